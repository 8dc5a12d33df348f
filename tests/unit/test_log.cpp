// log.hpp: one call, one line, whatever a value in it holds.
#define BOOST_TEST_DYN_LINK
#include "route_milter/common/log.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

using namespace route_milter;

namespace {

// What log_line writes to stderr (the daemon's -l stderr), caught in a file.
template <typename Fn>
std::string stderr_of(Fn&& fn) {
    const testing::ConfigDir d;
    const std::string path = d.write("stderr", "");
    std::fflush(stderr);
    const int saved = ::dup(2);
    const int to = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    BOOST_REQUIRE(saved >= 0 && to >= 0);
    ::dup2(to, 2);
    fn();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    ::close(to);
    return testing::read_file(path);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(log_lines)

BOOST_AUTO_TEST_CASE(a_value_with_a_line_break_or_an_escape_stays_on_its_line) {
    open_log(LogTarget::stderr_stream);
    const std::string out = stderr_of([] {
        log_line(LOG_ERR, "reload: %s: bad (\"%s\")", "a\nb.list", "x\r\nroute-milter: forged\x1b[2J\xc2\x85");
        log_line(LOG_INFO, "range=%s", "B\xc3\xbcro");
    });
    BOOST_TEST(out == "route-milter: error: reload: a\\x0ab.list: bad (\"x\\x0d\\x0aroute-milter: forged\\x1b[2J\\xc2\\x85\")\n"
                      "route-milter: range=B\xc3\xbcro\n");
}

// A value is one blank-free word, or quoted: a reader splitting the line at blanks and quotes
// gets every key=value pair whole, whatever an admin named a range.
BOOST_AUTO_TEST_CASE(log_values_with_blanks_or_quotes_are_quoted) {
    BOOST_TEST(log_value("Internet") == "Internet");
    BOOST_TEST(log_value("not-listed") == "not-listed");
    BOOST_TEST(log_value("*.example.com") == "*.example.com");
    BOOST_TEST(log_value("B\xc3\xbcro") == "B\xc3\xbcro");  // UTF-8 as written
    BOOST_TEST(log_value("My computer") == "\"My computer\"");
    BOOST_TEST(log_value("example.com (line 3)") == "\"example.com (line 3)\"");
    BOOST_TEST(log_value("") == "\"\"");
    BOOST_TEST(log_value("say \"hi\"") == "\"say \\\"hi\\\"\"");
    BOOST_TEST(log_value("a\"b") == "\"a\\\"b\"");
    BOOST_TEST(log_value("C:\\path") == "\"C:\\\\path\"");
    BOOST_TEST(log_value("a\tb") == "\"a\\x09b\"");
    BOOST_TEST(log_value("x\nrange=forged") == "\"x\\x0arange=forged\"");
    BOOST_TEST(log_value("\xff") == "\"\\xff\"");
    // What a value quoted by log_value then passes through log_line is left as it is.
    open_log(LogTarget::stderr_stream);
    const std::string out = stderr_of([] {
        log_line(LOG_INFO, "range=%s route=%s", log_value("My \"big\"\ncomputer").c_str(), log_value("a.test").c_str());
    });
    BOOST_TEST(out == "route-milter: range=\"My \\\"big\\\"\\x0acomputer\" route=a.test\n");
}

BOOST_AUTO_TEST_SUITE_END()
