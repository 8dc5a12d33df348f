// MilterSocket: every form the config and -p accept, and every error, as one table each.
#include "route_milter/core/milter_socket.hpp"
#include "route_milter/postfix/postfix_maps.hpp"
#include "route_milter/sendmail/sendmail_maps.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <ostream>
#include <string>
#include <variant>

using namespace route_milter;
using Family = MilterSocket::Family;

namespace {

struct GoodCase {
    const char* spec;
    Family family;
    const char* path;
    int port;
    const char* host;
    const char* text;      // libmilter's spelling (smfi_setconn)
    const char* postfix;   // smtpd_milters
    const char* sendmail;  // INPUT_MAIL_FILTER S=
};
std::ostream& operator<<(std::ostream& out, const GoodCase& c) { return out << c.spec; }

const GoodCase good_cases[] = {
    {"unix:/run/rm.sock", Family::unix_path, "/run/rm.sock", 0, "", "unix:/run/rm.sock", "unix:/run/rm.sock",
     "unix:/run/rm.sock"},
    {"local:/run/rm.sock", Family::unix_path, "/run/rm.sock", 0, "", "unix:/run/rm.sock", "unix:/run/rm.sock",
     "unix:/run/rm.sock"},
    {"unix:/var/spool/postfix/rm/rm.sock", Family::unix_path, "/var/spool/postfix/rm/rm.sock", 0, "",
     "unix:/var/spool/postfix/rm/rm.sock", "unix:/rm/rm.sock", "unix:/var/spool/postfix/rm/rm.sock"},
    {"unix:relative.sock", Family::unix_path, "relative.sock", 0, "", "unix:relative.sock", "unix:relative.sock",
     "unix:relative.sock"},
    {"inet:8891@127.0.0.1", Family::inet, "", 8891, "127.0.0.1", "inet:8891@127.0.0.1", "inet:127.0.0.1:8891",
     "inet:8891@127.0.0.1"},
    {"inet:8891@localhost", Family::inet, "", 8891, "localhost", "inet:8891@localhost", "inet:localhost:8891",
     "inet:8891@localhost"},
    {"inet:1@Mail.Example.COM", Family::inet, "", 1, "Mail.Example.COM", "inet:1@Mail.Example.COM",
     "inet:Mail.Example.COM:1", "inet:1@Mail.Example.COM"},
    {"inet:65535", Family::inet, "", 65535, "", "inet:65535", "inet:localhost:65535", "inet:65535"},
    {"inet:08891@127.0.0.1", Family::inet, "", 8891, "127.0.0.1", "inet:8891@127.0.0.1", "inet:127.0.0.1:8891",
     "inet:8891@127.0.0.1"},
    {"inet6:8891@::1", Family::inet6, "", 8891, "::1", "inet6:8891@::1", "inet:[::1]:8891", "inet6:8891@::1"},
    {"inet6:8891@[::1]", Family::inet6, "", 8891, "::1", "inet6:8891@::1", "inet:[::1]:8891", "inet6:8891@::1"},
    {"inet6:8891@2001:db8::25", Family::inet6, "", 8891, "2001:db8::25", "inet6:8891@2001:db8::25",
     "inet:[2001:db8::25]:8891", "inet6:8891@2001:db8::25"},
    {"inet6:8891@localhost", Family::inet6, "", 8891, "localhost", "inet6:8891@localhost", "inet:localhost:8891",
     "inet6:8891@localhost"},
    {"inet6:8891", Family::inet6, "", 8891, "", "inet6:8891", "inet:[::1]:8891", "inet6:8891"},
};

struct BadCase {
    const char* spec;
    const char* error;  // the whole line parse returns
};
std::ostream& operator<<(std::ostream& out, const BadCase& c) { return out << c.spec; }

const BadCase bad_cases[] = {
    {"", "must be \"unix:/path\" or \"inet:PORT@HOST\" (\"\")"},
    {"/run/rm.sock", "must be \"unix:/path\" or \"inet:PORT@HOST\" (\"/run/rm.sock\")"},
    {"tcp:25", "must be \"unix:/path\" or \"inet:PORT@HOST\" (\"tcp:25\")"},
    {"INET:25@127.0.0.1", "must be \"unix:/path\" or \"inet:PORT@HOST\" (\"INET:25@127.0.0.1\")"},
    {"unix:", "must be \"unix:/path\" with a path (\"unix:\")"},
    {"local:", "must be \"unix:/path\" with a path (\"local:\")"},
    {"inet:http@127.0.0.1", "must be \"inet:PORT@HOST\" with PORT a number 1..65535 (\"inet:http@127.0.0.1\")"},
    {"inet:@127.0.0.1", "must be \"inet:PORT@HOST\" with PORT a number 1..65535 (\"inet:@127.0.0.1\")"},
    {"inet:", "must be \"inet:PORT@HOST\" with PORT a number 1..65535 (\"inet:\")"},
    {"inet:0@127.0.0.1", "must be \"inet:PORT@HOST\" with PORT a number 1..65535 (\"inet:0@127.0.0.1\")"},
    {"inet:65536@127.0.0.1", "must be \"inet:PORT@HOST\" with PORT a number 1..65535 (\"inet:65536@127.0.0.1\")"},
    {"inet:99999@localhost", "must be \"inet:PORT@HOST\" with PORT a number 1..65535 (\"inet:99999@localhost\")"},
    {"inet:123456@localhost", "must be \"inet:PORT@HOST\" with PORT a number 1..65535 (\"inet:123456@localhost\")"},
    {"inet:-1@localhost", "must be \"inet:PORT@HOST\" with PORT a number 1..65535 (\"inet:-1@localhost\")"},
    {"inet:+25@localhost", "must be \"inet:PORT@HOST\" with PORT a number 1..65535 (\"inet:+25@localhost\")"},
    {"inet6:http@::1", "must be \"inet6:PORT@HOST\" with PORT a number 1..65535 (\"inet6:http@::1\")"},
    {"inet:8891@", "must be \"inet:PORT@HOST\" with a HOST after '@' (\"inet:8891@\")"},
    {"inet6:8891@", "must be \"inet6:PORT@HOST\" with a HOST after '@' (\"inet6:8891@\")"},
    {"inet6:8891@[]", "must be \"inet6:PORT@HOST\" with HOST an IP address or a host name (\"inet6:8891@[]\")"},
    {"inet:8891@::1", "an IPv6 host needs \"inet6:PORT@HOST\" (\"inet:8891@::1\")"},
    {"inet6:8891@127.0.0.1", "an IPv4 host needs \"inet:PORT@HOST\" (\"inet6:8891@127.0.0.1\")"},
    {"inet:8891@[127.0.0.1]", "must be \"inet:PORT@HOST\" with HOST an IP address or a host name (\"inet:8891@[127.0.0.1]\")"},
    {"inet:8891@bad host", "must be \"inet:PORT@HOST\" with HOST an IP address or a host name (\"inet:8891@bad host\")"},
    {"inet:8891@a,b", "must be \"inet:PORT@HOST\" with HOST an IP address or a host name (\"inet:8891@a,b\")"},
    {"inet:8891@10.0.0.300", "must be \"inet:PORT@HOST\" with HOST an IP address or a host name (\"inet:8891@10.0.0.300\")"},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(milter_socket)

BOOST_DATA_TEST_CASE(every_form_parses_and_spells_itself, boost::unit_test::data::make(good_cases), c) {
    const auto parsed = MilterSocket::parse(c.spec);
    const auto* why = std::get_if<std::string>(&parsed);
    BOOST_REQUIRE_MESSAGE(why == nullptr, c.spec << ": " << (why != nullptr ? *why : ""));
    const MilterSocket& s = std::get<MilterSocket>(parsed);
    BOOST_TEST((s.family() == c.family));
    BOOST_TEST(s.is_unix() == (c.family == Family::unix_path));
    BOOST_TEST(s.path() == c.path);
    BOOST_TEST(s.port() == c.port);
    BOOST_TEST(s.host() == c.host);
    BOOST_TEST(s.text() == c.text);
    BOOST_TEST(postfix_milter_address(s) == c.postfix);
    BOOST_TEST(sendmail_milter_address(s) == c.sendmail);
    // Its own spelling reads back as the same socket.
    const auto again = MilterSocket::parse(s.text());
    BOOST_REQUIRE(std::holds_alternative<MilterSocket>(again));
    BOOST_TEST((std::get<MilterSocket>(again) == s));
}

BOOST_DATA_TEST_CASE(every_error_is_one_line_naming_the_value, boost::unit_test::data::make(bad_cases), c) {
    const auto parsed = MilterSocket::parse(c.spec);
    BOOST_REQUIRE(std::holds_alternative<std::string>(parsed));
    BOOST_TEST(std::get<std::string>(parsed) == c.error);
}

BOOST_AUTO_TEST_CASE(local_and_unix_are_one_socket) {
    const auto a = MilterSocket::parse("local:/x.sock");
    const auto b = MilterSocket::parse("unix:/x.sock");
    const auto c = MilterSocket::parse("unix:/y.sock");
    BOOST_TEST((std::get<MilterSocket>(a) == std::get<MilterSocket>(b)));
    BOOST_TEST((std::get<MilterSocket>(a) != std::get<MilterSocket>(c)));
    BOOST_TEST((MilterSocket::unix_socket("/x.sock") == std::get<MilterSocket>(b)));
}

BOOST_AUTO_TEST_SUITE_END()
