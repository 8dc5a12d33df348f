#define BOOST_TEST_DYN_LINK
// The route list read in slices (route_list_scan.hpp, RouteSlicing): the scan itself, and the
// loader's result compared with a reading of the same text in one piece.
#include "route_milter/config/config_loader.hpp"
#include "route_milter/config/route_list_scan.hpp"

#include "test_support.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <ostream>
#include <string>

using namespace route_milter;

namespace {

std::string element_texts(std::string_view text) {
    const auto layout = scan_route_list(text);
    if (!layout) return "none";
    std::string out;
    for (const RouteListElement& e : layout->elements)
        out += std::to_string(e.line) + ":" + std::string(text.substr(e.begin, e.end - e.begin)) + "|";
    return out;
}

// Everything a reading yields that a caller can see.
std::string summary(const ConfigDraft& d) {
    std::string out = d.parsed ? "parsed\n" : "not parsed\n";
    out += testing::errors_text(d);
    if (!d.parsed) return out;
    const Config& c = d.config;
    out += "scope " + std::to_string(static_cast<int>(c.scope)) + ", milter.user " + c.milter.user + ", " +
           std::to_string(c.local_domains.size()) + " local domains, " + std::to_string(c.ip_ranges.size()) +
           " ranges\n";
    for (std::size_t i = 0; i < c.routes.size(); ++i) {
        const RouteConfig& r = c.routes[i];
        out += "route " + std::to_string(i) + " " + r.pattern.text() + " line " + std::to_string(r.line) + " file " +
               std::to_string(r.file) + " port " + std::to_string(r.port) + " hosts " + std::to_string(r.hosts.size()) +
               (r.auth ? " auth" : "") + "\n";
    }
    for (const ListedAddresses::Record& a : c.listed.records())
        out += std::string(c.listed.text(a)) + " route " + std::to_string(a.route) + " line " + std::to_string(a.line) +
               "\n";
    return out;
}

const RouteSlicing whole{SIZE_MAX, SIZE_MAX, 1};

struct SliceCase {
    const char* name;
    const char* text;
    bool scanned;  // the scan finds the groups (a syntax error in them is libconfig's to find)
};
std::ostream& operator<<(std::ostream& os, const SliceCase& c) { return os << c.name; }

const SliceCase slice_cases[] = {
    {"valid, with comments and strings that look like brackets",
     "# routes = ( { domain = \"no.example\"; } );\n"
     "scope = \"all\"; milter = { user = \"postfix\"; };\n"
     "local_domains = [ \"local.example\" ];\n"
     "routes = (\n"
     "  { domain = \"a.example\"; description = \"a } ) ] \\\" {\"; },  // a } comment\n"
     "  /* { ( */ { domain = \"b.example\"; host = [ \"mx1.b.example\", \"mx2.b.example\" ]; port = 2525;\n"
     "    auth = { user = \"u\"; password = \"p\"; }; },\n"
     "  { domain = \"c.example\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
     "    addresses = [ \"x@c.example\",\n \"Y@C.example\" ]; },\n"
     "  { domain = \"*.d.example\"; }\n"
     ");\n"
     "ip_ranges = ( { name = \"all\"; lower = \"0.0.0.0\"; upper = \"255.255.255.255\"; priority = 10;\n"
     "  allow_deliveries_from = [ \"local-local\", \"local-external\", \"external-local\", \"external-external\" ]; } );\n",
     true},
    {"errors in several slices and outside the list",
     "milter = { user = \"postfix\"; bogus = 1; };\n"
     "routes : (\n"
     "  { domain = \"a.example\"; hots = \"mx\"; },\n"
     "  { domain = \"b.example\"; host = \"mx.b.example\"; port = 99999; },\n"
     "  { domain = \"c.example\"; deliver_to = \"listed\"; },\n"
     "  { domain = \"d.example\"; deliver_to = \"listed\"; addresses = [ \"x@elsewhere.example\", \"bad\" ]; },\n"
     "  { domain = \"A.example\"; },\n"
     "  { domain = \"e.example\"; port = 26; }\n"
     ")\n"
     "scope = \"nowhere\";\n",
     true},
    {"an address listed by two routes in different slices",
     "routes = ( { domain = \"*.x.example\"; deliver_to = \"listed\"; addresses = [ \"a@b.x.example\" ]; },\n"
     "{ domain = \"y.example\"; }, { domain = \"z.example\"; },\n"
     "{ domain = \"b.x.example\"; deliver_to = \"listed\"; addresses = [ \"a@b.x.example\", \"c@b.x.example\" ]; } );\n",
     true},
    {"a syntax error inside a route group",
     "routes = ( { domain = \"a.example\"; }, { domain = \"b.example\"; port = ; }, { domain = \"c.example\"; } );\n",
     true},
    {"a syntax error after the list",
     "routes = ( { domain = \"a.example\"; },\n { domain = \"b.example\"; } );\nmilter = { user = ; };\n", true},
    {"a syntax error before the list, and one in it",
     "scope = ;\nroutes = ( { domain = \"a.example\"; }, { domain = \"b.example\" port = 1; } );\n", true},
    {"a trailing comma", "routes = ( { domain = \"a.example\"; }, { domain = \"b.example\"; }, );\n", false},
    {"routes twice", "routes = ( { domain = \"a.example\"; }, { domain = \"b.example\"; } );\nroutes = ();\n", true},
    {"an element that is not a group", "routes = ( { domain = \"a.example\"; }, \"b.example\" );\n", false},
    {"a group with nested lists and groups",
     "routes = ( { domain = \"a.example\"; host = [ \"m1.a.example\" ]; auth = { user = \"u\"; password = \"p\"; }; },\n"
     "  { domain = \"b.example\"; host = ( \"m.b.example\" ); } );\n",
     true},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(route_slices)

BOOST_AUTO_TEST_CASE(scan_finds_each_group_and_its_line) {
    BOOST_TEST(element_texts("routes = ( { a = 1; },\n{ b = \"}\"; } );") == "1:{ a = 1; }|2:{ b = \"}\"; }|");
    BOOST_TEST(element_texts("x = { routes = ( { a = 1; } ); };\nroutes:({ c = 2; })") == "2:{ c = 2; }|");
    BOOST_TEST(element_texts("/* routes = ( { no = 1; } ) */ s = \"routes = ( {\";\n# routes = ({})\n"
                             "routes = (\n/* } */ { d = [ 1, 2 ]; e = ( \"f\" ); g = { h = 1; }; } )") ==
               "4:{ d = [ 1, 2 ]; e = ( \"f\" ); g = { h = 1; }; }|");
    BOOST_TEST(element_texts("myroutes = ( { a = 1; } );") == "none");
}

BOOST_AUTO_TEST_CASE(scan_gives_up_on_what_libconfig_must_judge) {
    BOOST_TEST(element_texts("scope = \"all\";") == "none");
    BOOST_TEST(element_texts("routes = ();") == "none");
    BOOST_TEST(element_texts("routes = ( \"a\" );") == "none");
    BOOST_TEST(element_texts("routes = [ { a = 1; } ];") == "none");
    BOOST_TEST(element_texts("routes = ( { a = 1; }, );") == "none");
    BOOST_TEST(element_texts("routes = ( { a = 1; } ; { b = 1; } );") == "none");
    BOOST_TEST(element_texts("routes = ( { a = ( 1 }; } );") == "none");
    BOOST_TEST(element_texts("routes = ( { a = \"open; } );") == "none");
    BOOST_TEST(element_texts("routes = ( { a = 1; /* open } );") == "none");
    BOOST_TEST(element_texts("routes = ( { a = 1; }") == "none");
    BOOST_TEST(element_texts("} routes = ( { a = 1; } );") == "none");
}

// Every slice size from one route up, against the text read whole: the same errors (file,
// line, text), the same routes and addresses.
BOOST_DATA_TEST_CASE(sliced_reading_equals_the_whole, boost::unit_test::data::make(slice_cases), c) {
    const std::string expected = summary(read_config_text(c.text, "s.conf", whole));
    for (std::size_t per_slice : {1, 2, 3, 1000}) {
        const RouteSlicing sliced{0, 1, per_slice};
        BOOST_TEST(summary(read_config_text(c.text, "s.conf", sliced)) == expected, "slices of " << per_slice);
    }
    // The case says whether the scan accepts the text: the slices really were tried.
    BOOST_TEST(scan_route_list(c.text).has_value() == c.scanned);
}

// A generated config big enough for the default slicing, with an error in every few routes
// and a duplicate across slices: the default reading and the whole one agree.
BOOST_AUTO_TEST_CASE(default_slicing_on_a_big_config) {
    std::string text = "scope = \"all\";\nroutes = (\n";
    for (int i = 0; i < 5000; ++i) {
        text += "  { domain = \"d" + std::to_string(i == 4321 ? 17 : i) + ".example\"; deliver_to = \"listed\";";
        text += i % 997 == 5 ? " port = 0;" : "";
        text += " addresses = [ \"u" + std::to_string(i) + "@d" + std::to_string(i == 4321 ? 17 : i) + ".example\" ]; }";
        text += i + 1 < 5000 ? ",\n" : "\n";
    }
    text += ");\n";
    BOOST_REQUIRE(text.size() >= RouteSlicing{}.text_bytes / 4);
    const RouteSlicing small_text{0, RouteSlicing{}.from_routes, RouteSlicing{}.routes};
    const ConfigDraft sliced = read_config_text(text, "big.conf", small_text);
    const std::string expected = summary(read_config_text(text, "big.conf", whole));
    BOOST_TEST(summary(sliced) == expected);
    BOOST_TEST(sliced.config.routes.size() == 5000u);
    BOOST_TEST(testing::errors_text(sliced).find("big.conf:4324: routes: duplicate route domain, first at line 20 (\"d17.example\")") !=
               std::string::npos, testing::errors_text(sliced));
}

BOOST_AUTO_TEST_SUITE_END()
