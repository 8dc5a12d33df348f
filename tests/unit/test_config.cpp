#define BOOST_TEST_DYN_LINK
#include "route_milter/config/config_loader.hpp"
#include "route_milter/config/config_source.hpp"
#include "route_milter/core/policy.hpp"
#include "route_milter/config/load_policy.hpp"

#include "test_support.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
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
    {"unknown top-level key", "scope = \"all\";\nrouts = ();\n",
     "test.conf:2: routs: unknown setting (routs); did you mean routes?"},
    {"unknown route key", "routes = ( {\n domain = \"a.example\";\n hots = \"mx\"; } );\n",
     "test.conf:3: routes[0].hots: unknown setting (hots); did you mean host?"},
    {"unknown milter key", "milter = { socket = \"unix:/x\";\n sockt = 1; };\n",
     "test.conf:2: milter.sockt: unknown setting (sockt); did you mean socket?"},
    {"misspelled range key", "ip_ranges = ( { name = \"a\"; priority = 5; cidr = \"10.0.0.0/8\";\n requier_auth = [ ]; } );\n",
     "test.conf:2: ip_ranges[0].requier_auth: unknown setting (requier_auth); did you mean require_auth?"},
    {"misspelled auth key", "routes = ( { domain = \"a.example\"; host = \"mx\";\n auth = { user = \"u\";\n pasword = \"p\"; }; } );\n",
     "test.conf:3: routes[0].auth.pasword: unknown setting (pasword); did you mean password?"},
    {"misspelled metrics key", "metrics = { listen = \"inet:9101\";\n time_out = 5; };\n",
     "test.conf:2: metrics.time_out: unknown setting (time_out); did you mean timeout?"},
    {"cidr without prefix length", "ip_ranges = ( { name = \"office\"; priority = 5;\n cidr = [ \"10.1.0.0/16\",\n \"192.0.2.0\" ]; } );\n",
     "test.conf:3: ip_ranges[0].cidr: no prefix length (192.0.2.0): a network needs its length, e.g. 192.0.2.0/24; "
     "write 192.0.2.0/32 for this one host"},
    {"cidr of one host without prefix length", "ip_ranges = ( { name = \"printer\"; priority = 5;\n cidr = \"192.0.2.7\"; } );\n",
     "test.conf:2: ip_ranges[0].cidr: no prefix length (192.0.2.7): write 192.0.2.7/32 for this one host"},
    {"misspelled key in another case", "Mode = \"warn\";\n", "test.conf:1: Mode: unknown setting (Mode); did you mean mode?"},
    {"wrong type port", "routes = ( { domain = \"a.example\"; host = \"mx.a.example\";\n port = \"25\"; } );\n",
     "test.conf:2: routes[0].port: expected an integer, found a string"},
    {"wrong type scope", "scope = 1;\n", "test.conf:1: scope: expected a string, found an integer"},
    {"bad scope", "scope = \"everything\";\n", "test.conf:1: scope: must be one of \"routes\", \"all\" (\"everything\")"},
    {"bad mode", "\nmode = \"dry-run\";\n", "test.conf:2: mode: must be one of \"enforce\", \"warn\" (\"dry-run\")"},
    {"route named none", "routes = ( {\n domain = \"None.\"; } );\n",
     "test.conf:2: routes[0].domain: reserved: logs and metrics say route=none for a recipient without a route (\"None.\")"},
    {"metrics on a unix socket", "metrics = {\n listen = \"unix:/run/m.sock\"; };\n",
     "test.conf:2: metrics.listen: must be \"inet:PORT@IP\" or \"inet6:PORT@IP\" (\"unix:/run/m.sock\")"},
    {"metrics host name", "metrics = { listen = \"inet:9101@localhost\"; };\n",
     "test.conf:1: metrics.listen: HOST must be an IP address, not a name (\"inet:9101@localhost\")"},
    {"metrics bad port", "metrics = { listen = \"inet:0@127.0.0.1\"; };\n", "test.conf:1: metrics.listen: "},
    {"metrics without listen", "metrics = { timeout = 5; };\n", "test.conf:1: metrics: missing required setting (listen)"},
    {"metrics limit out of range", "metrics = { listen = \"inet:9101\";\n max_connections = 0; };\n",
     "test.conf:2: metrics.max_connections: out of range 1..1024 (0)"},
    {"metrics unknown key", "metrics = { listen = \"inet:9101\"; path = \"/m\"; };\n",
     "test.conf:1: metrics.path: unknown setting (path)"},
    {"wrong type mode", "mode = true;\n", "test.conf:1: mode: expected a string, found a boolean"},
    {"bad route mode", "routes = ( { domain = \"a.example\";\n mode = \"Warn\"; } );\n",
     "test.conf:2: routes[0].mode: must be one of \"enforce\", \"warn\" (\"Warn\")"},
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
    // A value that log lines, errors or routectl show holds no control character: a range name
    // with a newline would forge a log line, an escape would drive the admin's terminal.
    {"range name with a newline",
     "ip_ranges = ( { name = \"Office\\nroute-milter[1]: forged\"; priority = 1;\n cidr = \"10.0.0.0/8\"; } );\n",
     "test.conf:1: ip_ranges[0].name: a control character (shown as \\xNN) in a value that log lines and routectl "
     "show (\"Office\\x0aroute-milter[1]: forged\")"},
    {"description with an escape", "routes = ( { domain = \"a.example\";\n description = \"a\\x1b[2Jb\"; } );\n",
     "test.conf:2: routes[0].description: a control character (shown as \\xNN) in a value that log lines and "
     "routectl show (\"a\\x1b[2Jb\")"},
    {"description with a tab", "routes = ( { domain = \"a.example\";\n description = \"a\tb\"; } );\n",
     "test.conf:2: routes[0].description: a control character (shown as \\xNN) in a value that log lines and "
     "routectl show (\"a\\x09b\")"},
    {"host with a NEL", "routes = ( { domain = \"a.example\";\n host = \"mx\xc2\x85.a.example\"; } );\n",
     "test.conf:2: routes[0].host: a control character"},
    {"local domain with a line separator", "local_domains = [ \"a.example\",\n \"b\xe2\x80\xa8.example\" ];\n",
     "test.conf:2: local_domains[1]: a control character"},
    {"cidr with a newline", "ip_ranges = ( { name = \"r\"; priority = 1;\n cidr = [ \"10.0.0.0/8\\n\" ]; } );\n",
     "test.conf:2: ip_ranges[0].cidr[0]: a control character"},
    {"addresses_file with a CR", "routes = ( { domain = \"a.example\"; deliver_to = \"listed\";\n"
     " addresses_file = \"a\\r.list\"; } );\n", "test.conf:2: routes[0].addresses_file: a control character"},
    {"auth user with a newline", "routes = ( { domain = \"a.example\"; host = \"mx.a.example\";\n"
     " auth = { user = \"u\\nx\"; password = \"p\"; }; } );\n", "test.conf:2: routes[0].auth.user: a control character"},
    {"milter user with a newline", "milter = {\n user = \"x\\ny\"; };\n", "test.conf:2: milter.user: a control character"},
    {"expires with a newline", "ip_ranges = ( { name = \"r\"; priority = 1; cidr = \"10.0.0.0/8\";\n"
     " expires = \"2030-01-01T00:00:00Z\\n\"; } );\n", "test.conf:2: ip_ranges[0].expires: a control character"},
    {"include name with a tab", "scope = \"all\";\n@include \"a\tb.conf\"\n",
     "test.conf:2: @include \"a\\x09b.conf\": a control character in the name"},
    // image: where routectl compile writes the policy, whatever its working directory.
    {"image relative", "scope = \"all\";\nimage = \"route-milter.image\";\n",
     "test.conf:2: image: must be an absolute path (\"route-milter.image\")"},
    {"image empty", "image = \"\";\n", "test.conf:1: image: must be an absolute path (\"\")"},
    {"image a directory", "image = \"/var/lib/route-milter/\";\n",
     "test.conf:1: image: names a directory (it ends in '/'): give the image file's path (\"/var/lib/route-milter/\")"},
    {"image with a newline", "image = \"/var/lib/x\\n.image\";\n",
     "test.conf:1: image: a control character (shown as \\xNN) in a value that log lines and routectl show "
     "(\"/var/lib/x\\x0a.image\")"},
    {"image not a string", "image = 1;\n", "test.conf:1: image: expected a string, found an integer"},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(config)

// Through load_policy_text: the checks that need the whole route table run in compile_policy.
BOOST_DATA_TEST_CASE(each_error_names_file_line_and_value, boost::unit_test::data::make(bad_cases), c) {
    const PolicyResult r = load_policy_text(c.text, "test.conf");
    BOOST_TEST(r.policy == nullptr);
    BOOST_TEST(all_errors(r).find(c.expected) != std::string::npos, "expected '" << c.expected << "' in:\n" << all_errors(r));
}

// A name far from every known one gets no guess: a wrong guess sends the admin the wrong way.
BOOST_AUTO_TEST_CASE(an_unknown_setting_far_from_all_gets_no_suggestion) {
    for (const char* text : {"routes = ( { domain = \"a.example\";\n colour = \"blue\"; } );\n",
                             "metrics = { listen = \"inet:9101\";\n path = \"/m\"; };\n", "\nxy = 1;\n",
                             "milter = {\n mode = \"warn\"; };\n"}) {
        const ConfigResult r = load(text);
        const std::string errors = all_errors(r);
        BOOST_TEST(errors.find("test.conf:2: ") != std::string::npos, errors);
        BOOST_TEST(errors.find("unknown setting (") != std::string::npos, errors);
        BOOST_TEST(errors.find("did you mean") == std::string::npos, errors);
    }
}

// treat_recipient_as = "local" on "*" or on a wildcard over a public suffix relays for anyone's
// domains: refused by the loader (so by -t, check, the daemon and every map writer) at its line.
BOOST_AUTO_TEST_CASE(open_relay_routes_are_refused) {
    struct Case {
        const char* route;
        const char* error;  // "" when the route is allowed
    };
    const Case cases[] = {
        {R"(domain = "*"; treat_recipient_as = "local";)",
         R"(test.conf:2: routes[0].treat_recipient_as: "local" on "*" makes every domain a relay destination, )"
         R"(judged local without AUTH: an open relay (give each backup domain its own route))"},
        {R"(domain = "*"; treat_recipient_as = "local"; deliver_to = "listed"; addresses = [ "a@b.test" ];)",
         R"("local" on "*" makes every domain a relay destination)"},
        {R"(domain = "*.com"; treat_recipient_as = "local";)",
         R"(test.conf:2: routes[0].treat_recipient_as: "local" on "*.com" makes every domain under com (a public suffix) a relay destination)"},
        {R"(domain = "*.COM."; treat_recipient_as = "local";)", R"("local" on "*.com" makes every domain under com (a public suffix))"},
        {R"(domain = "*.co.uk"; treat_recipient_as = "local";)", "every domain under co.uk (a public suffix)"},
        {R"(domain = "*.k12.ca.us"; treat_recipient_as = "local";)", "every domain under k12.ca.us (a public suffix)"},
        {R"(domain = "*.рф"; treat_recipient_as = "local";)", R"("local" on "*.xn--p1ai" makes every domain under xn--p1ai)"},
        {R"(domain = "*.xn--p1ai"; treat_recipient_as = "local";)", "every domain under xn--p1ai (a public suffix)"},
        {R"(domain = "*.foo.ck"; treat_recipient_as = "local";)", "every domain under foo.ck (a public suffix)"},  // *.ck
        // Allowed: a domain someone holds, a hosting company's own suffix (the private section),
        // a name the list does not know, treated as external, or the sender only.
        {R"(domain = "*.example.com"; treat_recipient_as = "local";)", ""},
        {R"(domain = "*.example.co.uk"; treat_recipient_as = "local";)", ""},
        {R"(domain = "*.github.io"; treat_recipient_as = "local";)", ""},
        {R"(domain = "*.lan"; treat_recipient_as = "local";)", ""},
        {R"(domain = "com"; treat_recipient_as = "local";)", ""},
        {R"(domain = "*"; treat_recipient_as = "external";)", ""},
        {R"(domain = "*.com"; treat_sender_as = "local";)", ""},
    };
    for (const Case& c : cases) {
        const std::string text = std::string("scope = \"all\";\nroutes = ( { ") + c.route + " } );\n";
        const PolicyResult r = load_policy_text(text, "test.conf");
        if (*c.error == '\0') {
            BOOST_TEST(r.policy != nullptr, c.route << "\n" << all_errors(r));
            continue;
        }
        BOOST_TEST(r.policy == nullptr, c.route);
        BOOST_TEST(r.errors.size() == 1u, c.route << "\n" << all_errors(r));
        BOOST_TEST(all_errors(r).find(c.error) != std::string::npos, c.route << "\n" << all_errors(r));
    }
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

// A U-label domain in another spelling than its A-labels give back is no domain (domain.hpp):
// each error names the value and the spelling to write.
BOOST_AUTO_TEST_CASE(idn_spellings_the_maps_cannot_hold_are_refused) {
    const ConfigResult r = load(
        "local_domains = [ \"bu\xcc\x88" "cher.test\" ];\n"
        "routes = ( { domain = \"*.\xef\xbd\x8d\xc3\xbc" "ller.test\"; },\n"
        "           { domain = \"b\xc3\xbc" "cher.example\"; deliver_to = \"listed\";\n"
        "             addresses = [ \"Leser@b\xc3\xbc\xc2\xad" "cher.example\", \"hans@B\xc3\x9c" "CHER.example\" ]; } );\n");
    const std::string errors = all_errors(r);
    for (const std::string expected :
         {"test.conf:1: local_domains: not a domain name (\"bu\xcc\x88" "cher.test\"; write the domain as \"bücher.test\")",
          "test.conf:2: routes[0].domain: not a domain name, \"*.domain\" or \"*\" (\"*.\xef\xbd\x8d\xc3\xbc" "ller.test\"; "
          "write the domain as \"müller.test\")",
          "test.conf:4: routes[1].addresses: invalid domain (\"Leser@b\xc3\xbc\xc2\xad" "cher.example\"; write the domain "
          "as \"bücher.example\")"})
        BOOST_TEST(errors.find(expected) != std::string::npos, expected << "\n" << errors);
    BOOST_TEST(r.errors.size() == 3u, errors);
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
    BOOST_TEST(c.milter.socket.text() == "inet:8891@127.0.0.1");
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
    const auto listed = testing::records_of(c, 0);
    BOOST_REQUIRE(listed.size() == 2u);
    BOOST_TEST(c.listed.text(listed[0]) == "alice@example.com");
    BOOST_TEST(c.listed.text(listed[1]) == "bob@example.com");
    BOOST_TEST(r0.auth->user == "relay");
    BOOST_TEST(r0.retries == 30);
    BOOST_TEST(c.routes[1].pattern.text() == "*.example.net");
    BOOST_TEST(c.routes[1].port == 465);  // tls defaults to SMTPS
    BOOST_TEST(c.routes[2].pattern.text() == "*");
}

BOOST_AUTO_TEST_CASE(defaults) {
    const ConfigResult r = load("");
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), all_errors(r));
    const Config& c = *r.config;
    BOOST_TEST((c.scope == Scope::routes));
    BOOST_TEST(c.milter.socket.text() == default_socket);
    BOOST_TEST(c.image == default_image_path);
    BOOST_TEST(c.image_line == 0u);
    BOOST_TEST(c.ip_ranges_are_defaults);
    BOOST_REQUIRE(c.ip_ranges.size() == 2u);
    BOOST_TEST(c.ip_ranges[0].name == "My computer");
    BOOST_TEST(c.ip_ranges[0].priority == 30);
    BOOST_TEST(c.ip_ranges[1].name == "Internet");
    BOOST_TEST(c.ip_ranges[1].require_auth.contains(DeliveryClass::local_local));
    BOOST_TEST(!c.ip_ranges[1].require_auth.contains(DeliveryClass::external_local));
}

BOOST_AUTO_TEST_CASE(image_setting) {
    const ConfigResult r = load("scope = \"all\";\nimage = \"/srv/policy/route-milter.image\";\n");
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), all_errors(r));
    BOOST_TEST(r.config->image == "/srv/policy/route-milter.image");
    BOOST_TEST(r.config->image_line == 2u);
    BOOST_TEST(r.config->files.at(r.config->image_file) == "test.conf");
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
    BOOST_TEST(route.auth == nullptr);
    BOOST_TEST(!route.mode.has_value());
    BOOST_TEST((r.config->mode == Mode::enforce));
    BOOST_TEST((effective_mode(*r.config, &route) == Mode::enforce));
}

// metrics.listen: loopback unless another address is written out; off without the group.
BOOST_AUTO_TEST_CASE(metrics_settings) {
    BOOST_TEST(!load("").config->metrics.has_value());
    const ConfigResult r = load("metrics = { listen = \"inet:9101\"; };");
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), all_errors(r));
    BOOST_REQUIRE(r.config->metrics.has_value());
    BOOST_TEST(r.config->metrics->listen.text() == "inet:9101@127.0.0.1");
    BOOST_TEST(r.config->metrics->max_connections == 8);
    BOOST_TEST(r.config->metrics->timeout == 5);
    const ConfigResult v6 = load("metrics = { listen = \"inet6:9101\"; max_connections = 3; timeout = 30; };");
    BOOST_REQUIRE_MESSAGE(v6.config.has_value(), all_errors(v6));
    BOOST_TEST(v6.config->metrics->listen.text() == "inet6:9101@::1");
    BOOST_TEST(v6.config->metrics->max_connections == 3);
    const ConfigResult any = load("metrics = { listen = \"inet:9101@0.0.0.0\"; };");
    BOOST_REQUIRE_MESSAGE(any.config.has_value(), all_errors(any));
    BOOST_TEST(any.config->metrics->listen.host() == "0.0.0.0");
}

// A route's mode wins over the top-level one for its recipients; recipients without a route
// take the top-level mode.
BOOST_AUTO_TEST_CASE(mode_top_level_and_per_route) {
    const ConfigResult r = load(R"(
        mode = "warn";
        routes = ( { domain = "a.example"; }, { domain = "b.example"; mode = "enforce"; },
                   { domain = "c.example"; mode = "warn"; } );
    )");
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), all_errors(r));
    const Config& c = *r.config;
    BOOST_TEST((c.mode == Mode::warn));
    BOOST_TEST((effective_mode(c, &c.routes[0]) == Mode::warn));
    BOOST_TEST((effective_mode(c, &c.routes[1]) == Mode::enforce));
    BOOST_TEST((effective_mode(c, &c.routes[2]) == Mode::warn));
    BOOST_TEST((effective_mode(c, nullptr) == Mode::warn));
    BOOST_TEST(routes_in_mode(c, Mode::warn) == 2u);
}

BOOST_AUTO_TEST_CASE(nul_byte_in_text) {
    const ConfigResult r = load(std::string("scope = \"all\";\0", 15));
    BOOST_TEST(!r.config.has_value());
    BOOST_TEST(all_errors(r).find("NUL byte") != std::string::npos);
}

// In a directory of its own: one that others may write (/tmp) gives no file (config_source.hpp).
struct TempFile {
    testing::ConfigDir dir;
    std::string path;
    explicit TempFile(const std::string& text, mode_t mode) : path(dir.write("test.conf", text, mode)) {}
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

// ---------------------------------------------------------------- files and @include (issue 9)

namespace {

using testing::ConfigDir;

const char* const password_route =
    "routes = ( { domain = \"a.example\"; host = \"mx.a.example\"; auth = { user = \"u\"; password = \"p\"; }; } );\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(config)

// The digest: the bytes of every file read, address files included; not their paths.
BOOST_AUTO_TEST_CASE(digest_covers_every_file_read_and_not_its_path) {
    const ConfigDir a, b;
    const char* main_text = "routes = ( { domain = \"a.example\"; deliver_to = \"listed\"; addresses = [\n"
                            "@include \"addresses.conf\"\n ]; } );\n";
    a.write("addresses.conf", "\"x@a.example\"\n");
    b.write("addresses.conf", "\"x@a.example\"\n");
    const std::string main_a = a.write("main.conf", main_text);
    const std::string main_b = b.write("other-name.conf", main_text);
    const ConfigResult ra = load_config_file(main_a), rb = load_config_file(main_b);
    BOOST_REQUIRE_MESSAGE(ra.config.has_value(), all_errors(ra));
    BOOST_REQUIRE_MESSAGE(rb.config.has_value(), all_errors(rb));
    BOOST_TEST(ra.config->digest.size() == 64u);
    BOOST_TEST(ra.config->digest.find_first_not_of("0123456789abcdef") == std::string::npos);
    BOOST_TEST(ra.config->digest == rb.config->digest);
    // One byte more in the address file (a second address) is another policy.
    b.write("addresses.conf", "\"x@a.example\", \"y@a.example\"\n");
    const ConfigResult changed = load_config_file(main_b);
    BOOST_REQUIRE_MESSAGE(changed.config.has_value(), all_errors(changed));
    BOOST_TEST(changed.config->digest != ra.config->digest);
    // The same text inlined is another set of files: another digest.
    const ConfigResult inlined = load_config_text(
        "routes = ( { domain = \"a.example\"; deliver_to = \"listed\"; addresses = [ \"x@a.example\" ]; } );\n", "t");
    BOOST_REQUIRE(inlined.config.has_value());
    BOOST_TEST(inlined.config->digest != ra.config->digest);
    // Known value: sha256(sha256("")) for an empty text.
    BOOST_TEST(load_config_text("", "empty").config->digest ==
               "5df6e0e2761359d30a8275058e299fcc0381534545f55cf43e41983f5d4c9456");
}

// Config::sources: each file read (the config, its @includes, its address files) as it was
// opened, for the image's header; one written a moment ago has not settled.
BOOST_AUTO_TEST_CASE(sources_record_each_file_as_opened) {
    const ConfigDir d;
    d.write("part.conf", "scope = \"all\";\n", 0640);
    d.write("a.list", "x@a.example\n");
    const std::string main = d.write(
        "main.conf", "@include \"part.conf\"\nroutes = ( { domain = \"a.example\"; deliver_to = \"listed\";\n"
                     "  addresses_file = \"a.list\"; } );\n");
    const ConfigResult r = load_config_file(main);
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), all_errors(r));
    const Config& c = *r.config;
    BOOST_REQUIRE(c.files.size() == 3u);
    BOOST_REQUIRE(c.sources.size() == c.files.size());
    BOOST_TEST(c.files[1] == d.path + "/part.conf");
    BOOST_TEST(c.files[2] == d.path + "/a.list");
    for (std::size_t i = 0; i < c.files.size(); ++i) {
        struct stat st {};
        BOOST_REQUIRE(::stat(c.files.c_str(i), &st) == 0);
        const SourceFile& s = c.sources[i];
        BOOST_TEST(s.device == static_cast<std::uint64_t>(st.st_dev), i);
        BOOST_TEST(s.inode == static_cast<std::uint64_t>(st.st_ino), i);
        BOOST_TEST(s.size == static_cast<std::uint64_t>(st.st_size), i);
        BOOST_TEST(s.mtime_ns == std::int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec, i);
        BOOST_TEST(s.ctime_ns == std::int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec, i);
        BOOST_TEST(s.mode == st.st_mode, i);
        BOOST_TEST(s.uid == st.st_uid, i);
        BOOST_TEST(s.gid == st.st_gid, i);
        BOOST_TEST(!s.settled, i);  // written just now
        BOOST_TEST(!s.same_as(s), i);  // so never taken as unchanged
    }
    BOOST_TEST((c.sources[1].mode & 07777) == 0640u);
    BOOST_TEST(c.sources[1].inode != c.sources[0].inode);
    // Text from memory has no file behind it: an empty identity, never settled.
    const ConfigResult text = load_config_text("scope = \"all\";\n", "t");
    BOOST_REQUIRE(text.config.has_value());
    BOOST_REQUIRE(text.config->sources.size() == 1u);
    BOOST_TEST(text.config->sources[0].inode == 0u);
    BOOST_TEST(!text.config->sources[0].settled);
}

// A file settles once its ctime is source_settle_ns behind the clock read before it was opened.
BOOST_AUTO_TEST_CASE(a_source_settles_after_source_settle_ns) {
    struct stat st {};
    st.st_ctim = {1000, 5};
    st.st_mtim = {990, 0};
    const auto at = [](std::int64_t ns) {
        return timespec{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    };
    const std::int64_t ctime = 1000'000'000'005;
    BOOST_TEST(!source_file_of(st, at(ctime)).settled);
    BOOST_TEST(!source_file_of(st, at(ctime + source_settle_ns - 1)).settled);
    const SourceFile settled = source_file_of(st, at(ctime + source_settle_ns));
    BOOST_TEST(settled.settled);
    BOOST_TEST(settled.ctime_ns == ctime);
    BOOST_TEST(settled.mtime_ns == 990'000'000'000);
    BOOST_TEST(settled.same_as(source_file_of(st, at(ctime))));
    st.st_ctim.tv_nsec = 6;  // a chmod, a write, a rename over it
    BOOST_TEST(!settled.same_as(source_file_of(st, at(ctime + source_settle_ns))));
}

BOOST_AUTO_TEST_CASE(includes_are_read_with_their_own_file_and_line) {
    const ConfigDir d;
    d.write("ranges.conf", "{ name = \"office\"; priority = 5; cidr = \"10.0.0.0/8\"; }\n");
    // (Not the last element of a file: libconfig gives an element the line of the token after it.)
    d.write("more.conf", "\"y@a.example\",\n  \"x@a.example\",\n  \"z@a.example\"\n");  // x: a duplicate
    d.write("addresses.conf", "\"x@a.example\",\n@include \"more.conf\"\n");
    const std::string main = d.write("main.conf",
                                     "ip_ranges = (\n"
                                     "  @include \"ranges.conf\"\n"
                                     ");\n"
                                     "routes = ( { domain = \"a.example\"; deliver_to = \"listed\"; addresses = [\n"
                                     "  @include \"addresses.conf\"\n"
                                     "  ]; port = 0; } );\n");
    const PolicyResult r = load_policy_file(main);
    BOOST_TEST(r.policy == nullptr);
    const std::string e = all_errors(r);
    // The compiler's duplicate and the loader's bad port come in one report, each where it is.
    BOOST_TEST(e.find(d.path + "/more.conf:2: routes: address listed twice, also under a.example (" + main +
                      ":4) (\"x@a.example\")") != std::string::npos, e);
    BOOST_TEST(e.find(main + ":6: routes[0].port: out of range 1..65535 (0)") != std::string::npos, e);
    BOOST_TEST(r.errors.size() == 2u, e);

    d.write("more.conf", "\"y@a.example\",\n\"z@a.example\"\n");
    d.write("main.conf",
            "ip_ranges = (\n  @include \"ranges.conf\"\n);\n"
            "routes = ( { domain = \"a.example\"; deliver_to = \"listed\"; addresses = [\n"
            "  @include \"addresses.conf\"   # a comment after the directive\n  ]; } );\n");
    const ConfigResult ok = load_config_file(main);
    BOOST_REQUIRE_MESSAGE(ok.config.has_value(), all_errors(ok));
    BOOST_TEST(ok.config->ip_ranges.at(0).name == "office");
    BOOST_TEST(ok.config->files.at(ok.config->ip_ranges.at(0).file) == d.path + "/ranges.conf");
    BOOST_TEST(ok.config->ip_ranges.at(0).line == 1u);
    const auto listed = testing::records_of(*ok.config, 0);
    BOOST_REQUIRE(listed.size() == 3u);
    const ListedAddresses::Record& y = listed.at(1);
    BOOST_TEST(ok.config->listed.text(y) == "y@a.example");
    BOOST_TEST(ok.config->files.at(y.file) == d.path + "/more.conf");
    BOOST_TEST(y.line == 1u);
}

BOOST_AUTO_TEST_CASE(include_of_a_directory_fifo_or_missing_file_is_refused_at_the_directive) {
    const ConfigDir d;
    BOOST_REQUIRE(mkdir((d.path + "/adir").c_str(), 0700) == 0);
    BOOST_REQUIRE(mkfifo((d.path + "/afifo").c_str(), 0600) == 0);
    const std::string main = d.write("main.conf",
                                     "scope = \"all\";\n"
                                     "@include \"adir\"\n"
                                     "  @include \"afifo\"\n"
                                     "@include \"gone.conf\"\n"
                                     "@include \"/dev/zero\"\n");
    const ConfigResult r = load_config_file(main);  // returns at all: libconfig would exit() or block
    BOOST_TEST(!r.config.has_value());
    const std::string e = all_errors(r);
    BOOST_TEST(e.find(main + ":2: @include \"adir\" (" + d.path + "/adir): not a regular file (a directory)") !=
                   std::string::npos, e);
    BOOST_TEST(e.find(main + ":3: @include \"afifo\" (" + d.path + "/afifo): not a regular file (a FIFO)") !=
                   std::string::npos, e);
    BOOST_TEST(e.find(main + ":4: @include \"gone.conf\" (" + d.path +
                      "/gone.conf): cannot read the file (No such file or directory)") != std::string::npos, e);
    BOOST_TEST(e.find(main + ":5: @include \"/dev/zero\": not a regular file (a character device)") != std::string::npos, e);
    BOOST_TEST(r.errors.size() == 4u, e);
}

BOOST_AUTO_TEST_CASE(include_cycles_and_deep_nesting_are_refused) {
    const ConfigDir d;
    d.write("a.conf", "@include \"b.conf\"\n");
    d.write("b.conf", "\n@include \"a.conf\"\n");
    const std::string main = d.write("main.conf", "@include \"a.conf\"\n");
    const ConfigResult r = load_config_file(main);
    BOOST_TEST(!r.config.has_value());
    BOOST_TEST(all_errors(r).find(d.path + "/b.conf:2: @include \"a.conf\" (" + d.path +
                                  "/a.conf): includes itself (an @include cycle)") != std::string::npos, all_errors(r));
    // libconfig's limit: ten files open below the main one.
    for (int i = 1; i <= 11; ++i)
        d.write("n" + std::to_string(i) + ".conf", i == 11 ? "scope = \"all\";\n" : "@include \"n" + std::to_string(i + 1) + ".conf\"\n");
    d.write("n10.conf", "scope = \"all\";\n");
    const ConfigResult ten = load_config_file(d.write("deep.conf", "@include \"n1.conf\"\n"));
    BOOST_TEST(ten.config.has_value(), all_errors(ten));
    d.write("n10.conf", "@include \"n11.conf\"\n");
    const ConfigResult eleven = load_config_file(d.path + "/deep.conf");
    BOOST_TEST(!eleven.config.has_value());
    BOOST_TEST(all_errors(eleven).find(d.path + "/n10.conf:1: @include \"n11.conf\"") != std::string::npos, all_errors(eleven));
    BOOST_TEST(all_errors(eleven).find("nested more than 10 deep") != std::string::npos, all_errors(eleven));
}

// Exactly where libconfig 1.5's scanner sees an @include, and nowhere else.
BOOST_AUTO_TEST_CASE(include_is_recognised_as_libconfig_recognises_it) {
    const ConfigDir d;
    d.write("s.conf", "scope = \"all\";\n");
    const std::string main = d.write("main.conf",
                                     "/* @include \"c1\"\n"
                                     "@include \"c2\" */\n"
                                     "# @include \"c3\"\n"
                                     "routes = ( { domain = \"a.example\"; host = \"mx.a.example\";\n"
                                     "  auth = { user = \"u\"; password = \"a\n"
                                     "@include \\\"c4\\\"\n"
                                     "\"; }; } );\n"
                                     "\t @include\t\"s.conf\"\n");
    const ConfigResult r = load_config_file(main);
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), all_errors(r));
    BOOST_TEST((r.config->scope == Scope::all));
    BOOST_TEST(r.config->routes.at(0).auth->password == "a\n@include \"c4\"\n");
    // Not at the start of a line: libconfig's syntax error, and no file is opened.
    const ConfigResult late = load_config_file(d.write("late.conf", "scope = \"all\"; @include \"gone\"\n"));
    BOOST_TEST(all_errors(late).find("late.conf:1: syntax error") != std::string::npos, all_errors(late));
    // An included file may not leave a comment or a string open for the file that includes it.
    d.write("open.conf", "scope = \"all\"; /* unfinished\n");
    const ConfigResult open = load_config_file(d.write("o.conf", "@include \"open.conf\"\n*/\n"));
    BOOST_TEST(all_errors(open).find(d.path + "/open.conf:1: the file ends inside a /* comment */") != std::string::npos,
               all_errors(open));
    const ConfigResult twice = load_config_file(d.write("t.conf", "@include \"s.conf\" @include \"s.conf\"\n"));
    BOOST_TEST(all_errors(twice).find("t.conf:1: syntax error: a second @include on one line") != std::string::npos,
               all_errors(twice));
}

BOOST_AUTO_TEST_CASE(world_readable_password_in_an_include_is_refused) {
    const ConfigDir d;
    d.write("secret.conf", password_route, 0644);
    const std::string main = d.write("main.conf", "@include \"secret.conf\"\n", 0600);
    const ConfigResult r = load_config_file(main);
    BOOST_TEST(!r.config.has_value());
    BOOST_TEST(all_errors(r).find(d.path + "/secret.conf: holds route passwords but other users can read it; "
                                  "run chmod o-rwx (mode 0644)") != std::string::npos, all_errors(r));
    BOOST_TEST(all_errors(r).find("\"p\"") == std::string::npos);
    BOOST_REQUIRE(chmod((d.path + "/secret.conf").c_str(), 0640) == 0);
    BOOST_TEST(load_config_file(main).config.has_value(), all_errors(load_config_file(main)));
    // The main file may be readable when the password is not in it.
    BOOST_REQUIRE(chmod(main.c_str(), 0644) == 0);
    BOOST_TEST(load_config_file(main).config.has_value(), all_errors(load_config_file(main)));
}

BOOST_AUTO_TEST_CASE(files_others_can_write_are_refused) {
    const ConfigDir d;
    for (const mode_t mode : {0602, 0620, 0666}) {
        const std::string main = d.write("main.conf", password_route, mode);
        const ConfigResult r = load_config_file(main);
        BOOST_TEST(!r.config.has_value(), mode);
        char expected[16];
        std::snprintf(expected, sizeof expected, "(mode %04o)", static_cast<unsigned>(mode));
        BOOST_TEST(all_errors(r).find(main + ": group or other users can write it; run chmod go-w " + expected) !=
                       std::string::npos, all_errors(r));
    }
    d.write("part.conf", "scope = \"all\";\n", 0664);
    const std::string main = d.write("main.conf", "@include \"part.conf\"\n", 0644);
    const ConfigResult r = load_config_file(main);
    BOOST_TEST(!r.config.has_value());
    BOOST_TEST(all_errors(r).find(d.path + "/part.conf: group or other users can write it; run chmod go-w (mode 0664)") !=
                   std::string::npos, all_errors(r));
    BOOST_REQUIRE(chmod((d.path + "/part.conf").c_str(), 0644) == 0);
    BOOST_TEST(load_config_file(main).config.has_value());
    d.write("main.conf", password_route, 0640);  // the Debian package's mode
    BOOST_TEST(load_config_file(main).config.has_value());
}

// One run shows the compiler's errors (listed twice, taken by a more specific route) beside
// the loader's.
BOOST_AUTO_TEST_CASE(duplicate_addresses_and_loader_errors_in_one_report) {
    const char* text =
        "routes = ( { domain = \"a.example\"; deliver_to = \"listed\";\n"
        "             addresses = [ \"x@a.example\",\n"
        "                           \"X@a.example\" ]; },\n"
        "           { domain = \"b.example\"; host = \"mx.b.example\";\n"
        "             port = 70000; } );\n";
    const PolicyResult r = load_policy_text(text, "test.conf");
    BOOST_TEST(r.policy == nullptr);
    BOOST_TEST(all_errors(r).find("test.conf:3: routes: address listed twice, also under a.example (line 1)") !=
                   std::string::npos, all_errors(r));
    BOOST_TEST(all_errors(r).find("test.conf:5: routes[1].port: out of range 1..65535 (70000)") != std::string::npos,
               all_errors(r));
    BOOST_TEST(r.errors.size() == 2u, all_errors(r));
    BOOST_TEST(r.errors.at(0).line == 3u);  // sorted by line
}

BOOST_AUTO_TEST_CASE(range_names_and_cidr_lists) {
    // A range whose own entries overlap is harmless.
    const ConfigResult self = load("ip_ranges = ( { name = \"a\"; priority = 5;\n"
                                   " cidr = [ \"10.0.0.0/8\", \"10.1.0.0/16\" ]; } );\n");
    BOOST_TEST(self.config.has_value(), all_errors(self));
    const ConfigResult empty = load("ip_ranges = ( { name = \"a\"; priority = 5;\n cidr = [ ]; } );\n");
    BOOST_TEST(!empty.config.has_value());
    BOOST_TEST(all_errors(empty).find("test.conf:2: ip_ranges[0].cidr: empty list") != std::string::npos, all_errors(empty));
    const ConfigResult twice = load("ip_ranges = ( { name = \"a\"; priority = 5; cidr = \"10.0.0.0/8\"; },\n"
                                    " { name = \"a\"; priority = 6; cidr = \"192.0.2.0/24\"; } );\n");
    BOOST_TEST(!twice.config.has_value());
    BOOST_TEST(all_errors(twice).find("test.conf:2: ip_ranges: duplicate range name, first at line 1 (\"a\")") !=
                   std::string::npos, all_errors(twice));
    const ConfigResult unnamed = load("ip_ranges = ( { priority = 5; cidr = \"10.0.0.0/8\";\n name = \"\"; } );\n");
    BOOST_TEST(!unnamed.config.has_value());
    BOOST_TEST(all_errors(unnamed).find("test.conf:2: ip_ranges[0].name: must not be empty") != std::string::npos,
               all_errors(unnamed));
    const ConfigResult none = load("ip_ranges = ( { priority = 5; cidr = \"10.0.0.0/8\";\n name = \"none\"; } );\n");
    BOOST_TEST(all_errors(none).find("test.conf:2: ip_ranges[0].name: reserved") != std::string::npos, all_errors(none));
}

// The file table keeps every name in one buffer; each comes back whole, empty ones included.
BOOST_AUTO_TEST_CASE(file_names_give_back_each_name_whole) {
    FileNames names;
    BOOST_TEST(names.empty());
    const std::vector<std::string> given = {"/etc/route-milter/route-milter.conf", "", "a", std::string(300, 'x'),
                                            "d/example.com.addresses"};
    names.reserve(given.size(), 0);  // too small: it still grows
    for (const std::string& n : given) names.push_back(n);
    BOOST_REQUIRE(names.size() == given.size());
    for (std::size_t i = 0; i < given.size(); ++i) {
        BOOST_TEST(names[i] == given[i]);
        BOOST_TEST(names.at(i) == given[i]);
        BOOST_TEST(std::string(names.c_str(i)) == given[i]);
    }
    BOOST_CHECK_THROW(names.at(given.size()), std::out_of_range);
    names.clear();
    BOOST_TEST(names.empty());
}

// Files saved on Windows: a byte-order mark begins the config and each @include, not their
// first setting, and CRLF lines read as LF ones, with the same lines in every error.
BOOST_AUTO_TEST_CASE(a_byte_order_mark_and_crlf_lines_load_as_windows_writes_them) {
    const std::string bom = "\xEF\xBB\xBF";
    const ConfigResult text = load(bom + "scope = \"all\";\r\nroutes = ( { domain = \"a.example\"; } );\r\n");
    BOOST_REQUIRE_MESSAGE(text.config.has_value(), all_errors(text));
    BOOST_TEST(name_of(text.config->scope) == "all");
    BOOST_TEST(load(bom).config.has_value());
    const ConfigDir d;
    d.write("part.conf", bom + "  { domain = \"b.example\";\r\n    description = \"from Windows\"; },\r\n"
                                "  { domain = \"c.example\";\r\n    retries = 5000; }\r\n");
    const std::string main = d.write("main.conf", bom + "# saved by Notepad\r\nroutes = (\r\n"
                                                        "@include \"part.conf\"\r\n);\r\n");
    const ConfigResult bad = load_config_file(main);
    BOOST_TEST(bad.errors.size() == 1u, all_errors(bad));
    BOOST_TEST(all_errors(bad).find(d.path + "/part.conf:4: routes[1].retries: out of range") != std::string::npos, all_errors(bad));
    d.write("part.conf", bom + "  { domain = \"b.example\";\r\n    description = \"from Windows\"; }\r\n");
    const ConfigResult good = load_config_file(main);
    BOOST_REQUIRE_MESSAGE(good.config.has_value(), all_errors(good));
    BOOST_TEST(good.config->routes.at(0).description == "from Windows");
    BOOST_TEST(good.config->routes.at(0).line == 1u);
    // A mark that does not begin a file is no blank: libconfig's error, at its line.
    const ConfigResult inside = load("scope = \"all\";\n" + bom + "mode = \"warn\";\n");
    BOOST_TEST(all_errors(inside).find("test.conf:2: syntax error") != std::string::npos, all_errors(inside));
}

// A password is never shown: it may hold what other values may not (item 12's rules aside).
BOOST_AUTO_TEST_CASE(a_password_may_hold_a_control_character) {
    const ConfigResult r = load("routes = ( { domain = \"a.example\"; host = \"mx.a.example\";\n"
                                " auth = { user = \"u\"; password = \"p\\tw\\x01d\"; }; } );\n");
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), all_errors(r));
    BOOST_TEST(r.config->routes.at(0).auth->password == "p\tw\x01" "d");
}

// Whatever a file name or message holds, a diagnostic is one line.
BOOST_AUTO_TEST_CASE(a_diagnostic_is_one_line) {
    BOOST_TEST(format_diagnostic({"a\nb.conf", 3, "bad (\"x\r\ny\x1b\")"}) == "a\\x0ab.conf:3: bad (\"x\\x0d\\x0ay\\x1b\")");
    BOOST_TEST(format_diagnostic({"m\xc3\xbcnchen.conf", 0, "ok"}) == "m\xc3\xbcnchen.conf: ok");
}

BOOST_AUTO_TEST_SUITE_END()
