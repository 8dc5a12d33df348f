#define BOOST_TEST_DYN_LINK
#include "route_milter/common/prometheus_text.hpp"

#include <boost/test/unit_test.hpp>

using namespace route_milter;

BOOST_AUTO_TEST_SUITE(prometheus_text)

BOOST_AUTO_TEST_CASE(label_values_are_escaped_and_read_back) {
    std::string page = "m{a=\"";
    append_label_value(page, "back\\slash \"quoted\"\nnext bücher");
    page += "\",b=\"plain\"} 42\n";
    BOOST_TEST(page == "m{a=\"back\\\\slash \\\"quoted\\\"\\nnext bücher\",b=\"plain\"} 42\n");
    const auto parsed = parse_exposition(page);
    BOOST_REQUIRE(std::holds_alternative<std::vector<Sample>>(parsed));
    const auto& samples = std::get<std::vector<Sample>>(parsed);
    BOOST_REQUIRE(samples.size() == 1u);
    BOOST_TEST(samples[0].name == "m");
    BOOST_TEST(samples[0].label("a") == "back\\slash \"quoted\"\nnext bücher");
    BOOST_TEST(samples[0].label("b") == "plain");
    BOOST_TEST(samples[0].label("c") == "");
    BOOST_TEST(samples[0].value == 42);
}

BOOST_AUTO_TEST_CASE(comments_timestamps_and_special_values) {
    const auto parsed = parse_exposition("# HELP x y\n# TYPE x counter\n\nx 1.5e3 1700000000000\ny{} +Inf\nz -Inf\r\n");
    BOOST_REQUIRE(std::holds_alternative<std::vector<Sample>>(parsed));
    const auto& s = std::get<std::vector<Sample>>(parsed);
    BOOST_REQUIRE(s.size() == 3u);
    BOOST_TEST(s[0].value == 1500);
    BOOST_TEST(s[1].name == "y");
    BOOST_TEST(s[1].value > 1e308);
    BOOST_TEST(s[2].value < -1e308);
}

BOOST_AUTO_TEST_CASE(malformed_lines_name_their_line) {
    const struct {
        const char* text;
        const char* expected;
    } cases[] = {
        {"ok 1\n9bad 1\n", "line 2: expected a metric name"},
        {"m{a=\"x} 1\n", "line 1: unterminated value of label a"},
        {"m{a=\"\\t\"} 1\n", "line 1: unknown escape \\t in label a"},
        {"m{a=x} 1\n", "line 1: expected =\" after label a"},
        {"m 12abc\n", "line 1: not a number (\"12abc\")"},
        {"m\n", "line 1: expected a blank and a value"},
        {"<html>\n", "line 1: expected a metric name"},
    };
    for (const auto& c : cases) {
        const auto parsed = parse_exposition(c.text);
        BOOST_REQUIRE_MESSAGE(std::holds_alternative<std::string>(parsed), c.text);
        BOOST_TEST(std::get<std::string>(parsed) == c.expected, c.text);
    }
}

BOOST_AUTO_TEST_SUITE_END()
