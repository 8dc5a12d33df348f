#define BOOST_TEST_DYN_LINK
#include "route_milter/config_loader.hpp"
#include "route_milter/policy.hpp"

#include "test_support.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <ostream>

using namespace route_milter;

namespace {

template <typename Result>
std::string all_errors(const Result& r) { return testing::errors_text(r); }

ConfigResult load(const std::string& text) { return load_config_text(text, "test.conf"); }

struct BadCase {
    const char* name;
    const char* text;
    const char* expected;  // substring of the error, which includes file:line
};
std::ostream& operator<<(std::ostream& os, const BadCase& c) { return os << c.name; }

const BadCase bad_cases[] = {
    {"syntax error", "routes = ( { domain = \"a.example\" } \n", "test.conf:2: syntax error"},
    {"unknown top-level key", "scope = \"all\";\nrouts = ();\n", "test.conf:2: routs: unknown setting (routs)"},
    {"unknown route key", "routes = ( {\n domain = \"a.example\";\n hots = \"mx\"; } );\n",
     "test.conf:3: routes[0].hots: unknown setting (hots)"},
    {"unknown milter key", "milter = { socket = \"unix:/x\";\n sockt = 1; };\n", "test.conf:2: milter.sockt: unknown setting"},
    {"wrong type port", "routes = ( { domain = \"a.example\"; host = \"mx.a.example\";\n port = \"25\"; } );\n",
     "test.conf:2: routes[0].port: expected an integer, found a string"},
    {"wrong type scope", "scope = 1;\n", "test.conf:1: scope: expected a string, found an integer"},
    {"bad scope", "scope = \"everything\";\n", "test.conf:1: scope: must be one of \"routes\", \"all\" (\"everything\")"},
    {"bad security", "routes = ( { domain = \"a.example\"; host = \"mx.a.example\";\n security = \"ssl\"; } );\n",
     "test.conf:2: routes[0].security: must be one of \"none\", \"starttls\", \"starttls-required\", \"tls\" (\"ssl\")"},
    {"bad treat_sender_as", "routes = ( { domain = \"a.example\";\n treat_sender_as = \"internal\"; } );\n",
     "test.conf:2: routes[0].treat_sender_as: must be one of \"local\", \"external\" (\"internal\")"},
    {"bad deliver_to", "routes = ( { domain = \"a.example\";\n deliver_to = \"some\"; } );\n",
     "routes[0].deliver_to: must be one of \"all\", \"listed\" (\"some\")"},
    {"port out of range", "routes = ( { domain = \"a.example\"; host = \"mx.a.example\";\n port = 70000; } );\n",
     "test.conf:2: routes[0].port: out of range 1..65535 (70000)"},
    {"port zero", "routes = ( { domain = \"a.example\"; host = \"mx.a.example\";\n port = 0; } );\n",
     "routes[0].port: out of range 1..65535 (0)"},
    {"retries negative", "routes = ( { domain = \"a.example\";\n retries = -1; } );\n",
     "test.conf:2: routes[0].retries: out of range 0..1000 (-1)"},
    {"retry_minutes zero", "routes = ( { domain = \"a.example\";\n retry_minutes = 0; } );\n",
     "routes[0].retry_minutes: out of range 1..10080 (0)"},
    {"duplicate route domain", "routes = ( { domain = \"a.example\"; },\n { domain = \"A.Example.\"; } );\n",
     "test.conf:2: routes: duplicate route domain, first at line 1 (\"a.example\")"},
    {"duplicate IDN route domain", "routes = ( { domain = \"bücher.example\"; },\n { domain = \"xn--bcher-kva.example\"; } );\n",
     "test.conf:2: routes: duplicate route domain"},
    {"address outside domain",
     "routes = ( { domain = \"a.example\"; deliver_to = \"listed\";\n addresses = [ \"x@b.example\" ]; } );\n",
     "test.conf:2: routes[0].addresses: address outside the route's domain a.example (\"x@b.example\")"},
    {"address not an address",
     "routes = ( { domain = \"a.example\"; deliver_to = \"listed\";\n addresses = [ \"x@a.example\", \"nobody\" ]; } );\n",
     "routes[0].addresses: not local@domain (\"nobody\")"},
    {"bad address syntax",
     "routes = ( { domain = \"a.example\"; deliver_to = \"listed\";\n addresses = [ \"\\\"x@a.example\" ]; } );\n",
     "routes[0].addresses: unbalanced quote"},
    {"listed without addresses", "routes = ( {\n domain = \"a.example\"; deliver_to = \"listed\"; } );\n",
     "test.conf:1: routes[0]: deliver_to = \"listed\" but no addresses are listed (a.example)"},
    {"addresses with deliver all",
     "routes = ( { domain = \"a.example\";\n addresses = [ \"x@a.example\" ]; } );\n",
     "test.conf:2: routes[0].addresses: addresses are listed but deliver_to is \"all\""},
    {"address listed twice",
     "routes = ( { domain = \"a.example\"; deliver_to = \"listed\";\n addresses = [ \"x@a.example\",\n \"X@A.example\" ]; } );\n",
     "routes: address listed twice"},
    {"address taken by a more specific route",
     "routes = ( { domain = \"*.a.example\"; deliver_to = \"listed\";\n addresses = [ \"x@b.a.example\" ]; },\n"
     " { domain = \"b.a.example\"; } );\n",
     "test.conf:2: routes: address is listed under *.a.example but route b.a.example (line 3) takes its domain"},
    {"address listed in two routes",
     "routes = ( { domain = \"*.a.example\"; deliver_to = \"listed\"; addresses = [ \"x@c.a.example\" ]; },\n"
     " { domain = \"c.a.example\"; deliver_to = \"listed\";\n addresses = [ \"x@c.a.example\" ]; } );\n",
     "test.conf:3: routes: address listed twice, also under *.a.example (line 1) (\"x@c.a.example\")"},
    {"bad route pattern", "routes = ( {\n domain = \"mail.*.example\"; } );\n",
     "test.conf:2: routes[0].domain: not a domain name, \"*.domain\" or \"*\" (\"mail.*.example\")"},
    {"bad route pattern 2", "routes = ( {\n domain = \"**\"; } );\n", "routes[0].domain: not a domain name"},
    {"missing domain", "routes = ( {\n host = \"mx.example\"; } );\n", "routes[0]: missing required setting (domain)"},
    {"bad host", "routes = ( { domain = \"a.example\";\n host = \"mx example\"; } );\n",
     "test.conf:2: routes[0].host: not a host name or [IP address] (\"mx example\")"},
    {"port without host", "routes = ( { domain = \"a.example\";\n port = 587; } );\n",
     "routes[0].port: port without host"},
    {"auth without host", "routes = ( { domain = \"a.example\";\n auth = { user = \"u\"; password = \"p\"; }; } );\n",
     "test.conf:2: routes[0].auth: SMTP AUTH needs the route's host"},
    {"auth missing password",
     "routes = ( { domain = \"a.example\"; host = \"mx.a.example\";\n auth = { user = \"u\"; }; } );\n",
     "routes[0].auth: missing required setting (password)"},
    {"bad local domain", "local_domains = [ \"example.org\",\n \"bad domain\" ];\n",
     "local_domains: not a domain name (\"bad domain\")"},
    {"duplicate local domain", "local_domains = [ \"example.org\", \"EXAMPLE.org\" ];\n",
     "local_domains: duplicate domain"},
    {"bad ip", "ip_ranges = ( { name = \"r\"; priority = 1;\n lower = \"10.0.0.300\"; upper = \"10.0.0.1\"; } );\n",
     "test.conf:2: ip_ranges[0].lower: not an IP address (10.0.0.300)"},
    {"bad cidr", "ip_ranges = ( { name = \"r\"; priority = 1;\n cidr = \"10.0.0.1/8\"; } );\n",
     "test.conf:2: ip_ranges[0].cidr: host bits set; did you mean 10.0.0.0/8 (10.0.0.1/8)"},
    {"both cidr and bounds",
     "ip_ranges = ( {\n name = \"r\"; priority = 1; cidr = \"10.0.0.0/8\"; lower = \"10.0.0.1\"; upper = \"10.0.0.2\"; } );\n",
     "test.conf:1: ip_ranges[0]: give either lower and upper, or cidr (r)"},
    {"bad class", "ip_ranges = ( { name = \"r\"; priority = 1; cidr = \"10.0.0.0/8\";\n allow = [ \"local-to-local\" ]; } );\n",
     "test.conf:2: ip_ranges[0].allow: must be \"local-local\""},
    {"missing priority", "ip_ranges = ( {\n name = \"r\"; cidr = \"10.0.0.0/8\"; } );\n",
     "ip_ranges[0]: missing required setting (priority)"},
    {"overlap equal priority",
     "ip_ranges = ( { name = \"a\"; priority = 5; cidr = \"10.0.0.0/8\"; },\n"
     " { name = \"b\"; priority = 5; lower = \"10.1.0.0\"; upper = \"10.1.0.9\"; } );\n",
     "test.conf:2: ip_ranges: \"b\" overlaps \"a\" (line 1) at equal priority 5 (10.1.0.0-10.1.0.9)"},
    {"bad socket", "milter = {\n socket = \"tcp:25\"; };\n", "test.conf:2: milter.socket: must be \"unix:/path\" or \"inet:PORT@HOST\" (\"tcp:25\")"},
    {"bad inet port", "milter = {\n socket = \"inet:99999@localhost\"; };\n", "milter.socket: must be"},
    {"timeout out of range", "milter = {\n timeout = 0; };\n", "test.conf:2: milter.timeout: out of range 1..86400 (0)"},
    {"routes not a list", "routes = { domain = \"a.example\"; };\n", "routes: expected a list"},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(config)

// Through load_policy_text: the checks that need the whole route table run in compile_policy.
BOOST_DATA_TEST_CASE(each_error_names_file_line_and_value, boost::unit_test::data::make(bad_cases), c) {
    const PolicyResult r = load_policy_text(c.text, "test.conf");
    BOOST_TEST(r.policy == nullptr);
    BOOST_TEST(all_errors(r).find(c.expected) != std::string::npos, "expected '" << c.expected << "' in:\n" << all_errors(r));
}

BOOST_AUTO_TEST_CASE(reports_every_error_not_just_the_first) {
    const ConfigResult r = load(
        "scope = \"some\";\n"
        "routes = ( { domain = \"a.example\"; host = \"mx.a.example\"; port = 0; },\n"
        "           { domain = \"b.example\"; deliver_to = \"listed\"; },\n"
        "           { domain = \"c.example\"; colour = \"blue\"; } );\n");
    BOOST_TEST(r.errors.size() == 4u, all_errors(r));
    BOOST_TEST(r.errors.at(0).line == 1u);
    BOOST_TEST(r.errors.at(3).line == 4u);
}

BOOST_AUTO_TEST_CASE(full_example_loads) {
    const ConfigResult r = load(R"(
        milter = { socket = "inet:8891@127.0.0.1"; user = "route-milter"; timeout = 60; };
        scope = "all";
        local_domains = [ "Example.ORG", "bücher.example" ];
        ip_ranges = ( { name = "Office"; cidr = [ "192.0.2.0/24", "2001:db8::/32" ]; priority = 20;
                        allow = [ "local-local", "local-external" ]; require_auth = [ ]; },
                      { name = "Other"; lower = "198.51.100.1"; upper = "198.51.100.9"; priority = 20;
                        allow = "external-local"; } );
        routes = ( { domain = "example.com"; description = "backup MX";
                     host = "mx1.example.com"; port = 2525; security = "starttls-required";
                     treat_sender_as = "external"; treat_recipient_as = "local";
                     deliver_to = "listed"; addresses = [ "Alice@Example.com", "\"bob\"@example.com" ];
                     retries = 30; retry_minutes = 60;
                     auth = { user = "relay"; password = "s3cret"; }; },
                   { domain = "*.example.net"; security = "tls"; host = "[192.0.2.25]"; },
                   { domain = "*"; } );
    )");
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), all_errors(r));
    const Config& c = *r.config;
    BOOST_TEST(c.milter.socket == "inet:8891@127.0.0.1");
    BOOST_TEST(c.milter.user == "route-milter");
    BOOST_TEST(c.milter.timeout == 60);
    BOOST_TEST((c.scope == Scope::all));
    BOOST_TEST(c.local_domains.at(0) == "example.org");
    BOOST_TEST(c.local_domains.at(1) == "xn--bcher-kva.example");
    BOOST_TEST(c.ip_ranges.size() == 2u);
    BOOST_TEST(c.ip_ranges[0].intervals.size() == 2u);
    BOOST_TEST(!c.ip_ranges_are_defaults);
    BOOST_TEST(c.ip_ranges[1].allow.contains(DeliveryClass::external_local));
    BOOST_TEST(!c.ip_ranges[1].allow.contains(DeliveryClass::local_local));
    BOOST_TEST(c.routes.size() == 3u);
    const RouteConfig& r0 = c.routes[0];
    BOOST_TEST(r0.port == 2525);
    BOOST_TEST((r0.security == Security::starttls_required));
    BOOST_TEST((r0.treat_recipient_as == AddressClass::local));
    BOOST_TEST(r0.addresses.at(0).address == "alice@example.com");
    BOOST_TEST(r0.addresses.at(1).address == "bob@example.com");
    BOOST_TEST(r0.auth->user == "relay");
    BOOST_TEST(r0.retries == 30);
    BOOST_TEST(c.routes[1].domain == "*.example.net");
    BOOST_TEST(c.routes[1].port == 465);  // tls defaults to SMTPS
    BOOST_TEST(c.routes[2].domain == "*");
}

BOOST_AUTO_TEST_CASE(defaults) {
    const ConfigResult r = load("");
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), all_errors(r));
    const Config& c = *r.config;
    BOOST_TEST((c.scope == Scope::routes));
    BOOST_TEST(c.milter.socket == default_socket);
    BOOST_TEST(c.ip_ranges_are_defaults);
    BOOST_REQUIRE(c.ip_ranges.size() == 2u);
    BOOST_TEST(c.ip_ranges[0].name == "My computer");
    BOOST_TEST(c.ip_ranges[0].priority == 30);
    BOOST_TEST(c.ip_ranges[1].name == "Internet");
    BOOST_TEST(c.ip_ranges[1].require_auth.contains(DeliveryClass::local_local));
    BOOST_TEST(!c.ip_ranges[1].require_auth.contains(DeliveryClass::external_local));
}

BOOST_AUTO_TEST_CASE(route_defaults) {
    const ConfigResult r = load("routes = ( { domain = \"a.example\"; } );");
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), all_errors(r));
    const RouteConfig& route = r.config->routes.at(0);
    BOOST_TEST(route.port == 25);
    BOOST_TEST((route.security == Security::none));
    BOOST_TEST((route.deliver_to == DeliverTo::all));
    BOOST_TEST((route.treat_sender_as == AddressClass::external));
    BOOST_TEST((route.treat_recipient_as == AddressClass::external));
    BOOST_TEST(!route.auth.has_value());
}

BOOST_AUTO_TEST_CASE(nul_byte_in_text) {
    const ConfigResult r = load(std::string("scope = \"all\";\0", 15));
    BOOST_TEST(!r.config.has_value());
    BOOST_TEST(all_errors(r).find("NUL byte") != std::string::npos);
}

struct TempFile {
    std::string path;
    explicit TempFile(const std::string& text, mode_t mode) {
        char name[] = "/tmp/route-milter-test-XXXXXX";
        const int fd = mkstemp(name);
        BOOST_REQUIRE(fd >= 0);
        path = name;
        BOOST_REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        close(fd);
        chmod(path.c_str(), mode);
    }
    ~TempFile() { unlink(path.c_str()); }
};

BOOST_AUTO_TEST_CASE(world_readable_passwords_are_refused) {
    const std::string text =
        "routes = ( { domain = \"a.example\"; host = \"mx.a.example\"; auth = { user = \"u\"; password = \"p\"; }; } );\n";
    const TempFile open(text, 0644);
    const ConfigResult r = load_config_file(open.path);
    BOOST_TEST(!r.config.has_value());
    BOOST_TEST(all_errors(r).find(open.path + ": holds route passwords but other users can read it") != std::string::npos,
               all_errors(r));
    BOOST_TEST(all_errors(r).find("mode 0644") != std::string::npos);
    BOOST_TEST(all_errors(r).find("\"p\"") == std::string::npos);
    const TempFile closed(text, 0640);
    BOOST_TEST(load_config_file(closed.path).config.has_value());
    const TempFile no_password("routes = ( { domain = \"a.example\"; } );\n", 0644);
    BOOST_TEST(load_config_file(no_password.path).config.has_value());
}

BOOST_AUTO_TEST_CASE(missing_file) {
    const ConfigResult r = load_config_file("/nonexistent/route-milter.conf");
    BOOST_TEST(!r.config.has_value());
    BOOST_TEST(all_errors(r).find("/nonexistent/route-milter.conf: cannot read") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(file_errors_name_the_file) {
    const TempFile f("scope = \"routes\";\n\nroutes = ( { domain = \"a.example\"; port = 0; } );\n", 0600);
    const ConfigResult r = load_config_file(f.path);
    BOOST_TEST(all_errors(r).find(f.path + ":3: routes[0].port") != std::string::npos, all_errors(r));
}

BOOST_AUTO_TEST_SUITE_END()
