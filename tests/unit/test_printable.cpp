// printable.hpp: control characters found, escaped and blanked, as log lines and errors need.
#define BOOST_TEST_DYN_LINK
#include "route_milter/core/printable.hpp"

#include <boost/test/unit_test.hpp>

#include <string>

using namespace route_milter;

BOOST_AUTO_TEST_SUITE(printable_text)

// Each character that may end a line or drive a terminal, alone and inside text: found at its
// offset, escaped byte for byte, blanked as one character.
BOOST_AUTO_TEST_CASE(every_line_breaking_character_is_found_escaped_and_blanked) {
    struct Row {
        std::string character;
        std::string escaped;
    };
    const Row rows[] = {{std::string(1, '\0'), "\\x00"}, {"\n", "\\x0a"},       {"\r", "\\x0d"},
                        {"\t", "\\x09"},                 {"\x1b", "\\x1b"},     {"\x1f", "\\x1f"},
                        {"\x7f", "\\x7f"},               {"\xc2\x80", "\\xc2\\x80"}, {"\xc2\x85", "\\xc2\\x85"},
                        {"\xc2\x9f", "\\xc2\\x9f"},      {"\xe2\x80\xa8", "\\xe2\\x80\\xa8"},
                        {"\xe2\x80\xa9", "\\xe2\\x80\\xa9"},   {"\xef\xbb\xbf", "\\xef\\xbb\\xbf"},
                        {"\xe2\x80\x8e", "\\xe2\\x80\\x8e"},   {"\xe2\x80\x8f", "\\xe2\\x80\\x8f"},
                        {"\xe2\x80\xaa", "\\xe2\\x80\\xaa"},   {"\xe2\x80\xae", "\\xe2\\x80\\xae"},
                        {"\xe2\x81\xa6", "\\xe2\\x81\\xa6"},   {"\xe2\x81\xa9", "\\xe2\\x81\\xa9"}};
    for (const Row& r : rows) {
        BOOST_TEST_CONTEXT("character " << printable(r.character)) {
            const std::string text = "ab" + r.character + "c";
            BOOST_TEST(find_control(text).value_or(99) == 2u);
            BOOST_TEST(printable(text) == "ab" + r.escaped + "c");
            BOOST_TEST(without_controls(text) == "ab c");
            BOOST_TEST(printable(printable(text)) == printable(text));
        }
    }
}

BOOST_AUTO_TEST_CASE(other_text_is_kept_and_bytes_that_are_not_utf8_are_escaped) {
    for (const std::string kept : {"plain ascii \"quoted\" \\ back", "j\xc3\xbcrgen@b\xc3\xbc" "cher.test",
                                   "\xc2\xa0nbsp", "\xe2\x80\xa7 \xe2\x80\xaf \xe2\x81\xa5 \xe2\x81\xaa \xe2\x80\x8d", "\xf0\x9f\x93\xa7 mail", ""}) {
        BOOST_TEST(!find_control(kept).has_value(), kept);
        BOOST_TEST(printable(kept) == kept);
        BOOST_TEST(without_controls(kept) == kept);
    }
    // Latin-1, a lone continuation byte, an overlong '/', a surrogate, a cut sequence: not UTF-8,
    // escaped (no line breaks among them) and kept by without_controls.
    BOOST_TEST(printable("caf\xe9") == "caf\\xe9");
    BOOST_TEST(printable("\x85") == "\\x85");
    BOOST_TEST(printable("\xc0\xaf") == "\\xc0\\xaf");
    BOOST_TEST(printable("\xed\xa0\x80") == "\\xed\\xa0\\x80");
    BOOST_TEST(printable("a\xe2\x80") == "a\\xe2\\x80");
    BOOST_TEST(!find_control("caf\xe9 \x85").has_value());
    BOOST_TEST(without_controls("caf\xe9") == "caf\xe9");
}

BOOST_AUTO_TEST_CASE(a_shown_start_is_cut_at_a_character) {
    BOOST_TEST(printable("abcdef", 4) == "abcd...");
    BOOST_TEST(printable("abcd", 4) == "abcd");
    BOOST_TEST(printable("ab\xc3\xbc", 3) == "ab...");  // not half of the u-umlaut
    BOOST_TEST(printable("ab\ncd", 3) == "ab\\x0a...");
    BOOST_TEST(printable("", 0) == "");
    BOOST_TEST(printable("x", 0) == "...");
}

BOOST_AUTO_TEST_SUITE_END()
