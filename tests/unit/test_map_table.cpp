#define BOOST_TEST_DYN_LINK
#include "route_milter/core/map_table.hpp"

#include <boost/test/unit_test.hpp>

using namespace route_milter;

namespace {

RouteConfig route(const char* domain, unsigned line, int retries = 4, int retry_minutes = 60) {
    RouteConfig r;
    const auto parsed = RoutePattern::parse(domain);
    BOOST_REQUIRE(std::holds_alternative<RoutePattern>(parsed));
    r.pattern = std::get<RoutePattern>(parsed);
    r.line = line;
    r.retries = retries;
    r.retry_minutes = retry_minutes;
    return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(map_table)

BOOST_AUTO_TEST_CASE(a_key_keeps_its_first_value_and_a_conflict_names_both_routes) {
    MapTable t;
    const RouteConfig a = route("a.test", 3), b = route("b.test", 7);
    BOOST_TEST(set_map_entry(t, "[mx]:25", "may", a, "TLS policy").empty());
    BOOST_TEST(set_map_entry(t, "[mx]:25", "may", b, "TLS policy").empty());  // the same value: no conflict
    BOOST_TEST(set_map_entry(t, "[mx]:25", "none", b, "TLS policy") ==
               "TLS policy for [mx]:25 differs from the route at line 3 (a.test) (none vs may)");
    BOOST_TEST(set_map_entry(t, "[mx]:25", "u:secret", b, "credentials", true) ==
               "credentials for [mx]:25 differs from the route at line 3 (a.test)");
    BOOST_TEST(t.at("[mx]:25").value == "may");
    t.emplace("[aa]:25", MapEntry{"none", 0, {}});
    BOOST_TEST(render_map_table("# h\n", MapTable(t)) == "# h\n[aa]:25\tnone\n[mx]:25\tmay\n");
    const auto lines = map_table_lines(std::move(t));
    BOOST_TEST(lines.size() == 2u);
    BOOST_TEST(lines[0].first == "[aa]:25");
    BOOST_TEST(lines[1].second == "may");
}

BOOST_AUTO_TEST_CASE(dot_string_local_parts) {
    struct Case {
        const char* address;
        bool dot_string;
    };
    const Case cases[] = {
        {"john.doe@example.com", true}, {"j\xc3\xb6rg@example.com", true}, {"a+b=c@x", true}, {"#sales@x", true},
        {"postmaster", true},           {"john doe@x", false},             {".a@x", false},   {"a.@x", false},
        {"a..b@x", false},              {"x@y@example.com", false},        {"a\"b@x", false}, {"a\\b@x", false},
        {"a\tb@x", false},              {"a\x7f@x", false},                {"@x", false},     {"a(b)@x", false},
    };
    for (const Case& c : cases) BOOST_TEST(local_part_is_dot_string(c.address) == c.dot_string, c.address);
}

BOOST_AUTO_TEST_CASE(queue_lifetime_outlasts_the_longest_schedule_by_a_day_and_is_at_least_five_days) {
    BOOST_TEST(longest_route_schedule_minutes({}) == 0);
    const std::vector<RouteConfig> routes{route("a.test", 1, 4, 60), route("b.test", 2, 30, 600), route("c.test", 3, 1000, 1)};
    BOOST_TEST(longest_route_schedule_minutes(routes) == 18000);
    BOOST_TEST(queue_lifetime_minutes(0) == 5 * 1440);
    BOOST_TEST(queue_lifetime_minutes(4 * 1440) == 5 * 1440);
    BOOST_TEST(queue_lifetime_minutes(18000) == 18000 + 1440);
}

BOOST_AUTO_TEST_SUITE_END()
