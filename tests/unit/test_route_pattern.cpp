#define BOOST_TEST_DYN_LINK
#include "route_milter/core/route_pattern.hpp"

#include "route_milter/core/policy.hpp"
#include "route_milter/core/route_table.hpp"
#include "route_milter/image/policy_image_file.hpp"

#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

using namespace route_milter;
using Kind = RoutePattern::Kind;

namespace {

RoutePattern pattern(std::string_view text) {
    auto parsed = RoutePattern::parse(text);
    BOOST_REQUIRE_MESSAGE(parsed.index() == 0, std::string(text) + ": " +
                                                   (parsed.index() == 1 ? std::get<1>(parsed) : std::string()));
    return std::get<RoutePattern>(parsed);
}

struct GoodCase {
    const char* input;
    Kind kind;
    const char* text;    // canonical spelling
    const char* base;
    const char* suffix;
};
std::ostream& operator<<(std::ostream& os, const GoodCase& c) { return os << c.input; }

const GoodCase good_cases[] = {
    {"example.com", Kind::exact, "example.com", "example.com", ""},
    {"Example.COM.", Kind::exact, "example.com", "example.com", ""},
    {"*.example.com", Kind::wildcard, "*.example.com", "example.com", ".example.com"},
    {"*.Example.Com.", Kind::wildcard, "*.example.com", "example.com", ".example.com"},
    {"*.com", Kind::wildcard, "*.com", "com", ".com"},
    {"*", Kind::catch_all, "*", "", ""},
    {"b\xc3\xbc" "cher.example", Kind::exact, "xn--bcher-kva.example", "xn--bcher-kva.example", ""},
    {"*.b\xc3\xbc" "cher.example", Kind::wildcard, "*.xn--bcher-kva.example", "xn--bcher-kva.example",
     ".xn--bcher-kva.example"},
};

struct BadCase {
    const char* input;
};
std::ostream& operator<<(std::ostream& os, const BadCase& c) { return os << '"' << c.input << '"'; }

const BadCase bad_cases[] = {
    {""}, {"**"}, {"*."}, {"*.*"}, {"*.*.example"}, {"mail.*.example"}, {"*example.com"}, {"a..example"},
    {"-a.example"}, {"a b.example"}, {"a_b.example"}, {".example"}, {"example.com*"}, {"*.[192.0.2.1]"},
};

struct MatchCase {
    const char* pattern;
    const char* domain;
    bool matches;
    bool matches_subdomains;  // matches_subdomains_of(domain)
};
std::ostream& operator<<(std::ostream& os, const MatchCase& c) { return os << c.pattern << " ~ " << c.domain; }

const MatchCase match_cases[] = {
    {"example.com", "example.com", true, false},
    {"example.com", "a.example.com", false, false},
    {"example.com", "xexample.com", false, false},
    {"example.com", "example.co", false, false},
    {"example.com", "", false, false},
    {"*.example.com", "a.example.com", true, true},
    {"*.example.com", "x.y.example.com", true, true},
    {"*.example.com", "example.com", false, true},   // "*.d" is not d itself, but covers d's subdomains
    {"*.example.com", "xexample.com", false, false},  // a label boundary, not a string suffix
    {"*.example.com", ".example.com", false, false},
    {"*.example.com", "com", false, false},
    {"*.example.com", "", false, false},
    {"*", "example.com", true, true},
    {"*", "com", true, true},
    {"*", "", false, false},
};

}  // namespace

BOOST_AUTO_TEST_SUITE(route_pattern)

BOOST_DATA_TEST_CASE(parses_and_spells_itself, boost::unit_test::data::make(good_cases), c) {
    const RoutePattern p = pattern(c.input);
    BOOST_TEST(static_cast<int>(p.kind()) == static_cast<int>(c.kind));
    BOOST_TEST(p.is_exact() == (c.kind == Kind::exact));
    BOOST_TEST(p.is_wildcard() == (c.kind == Kind::wildcard));
    BOOST_TEST(p.is_catch_all() == (c.kind == Kind::catch_all));
    BOOST_TEST(!p.empty());
    BOOST_TEST(p.text() == c.text);
    BOOST_TEST(p.base() == c.base);
    BOOST_TEST(p.suffix() == c.suffix);
    // The canonical spelling parses to the same pattern.
    BOOST_TEST((pattern(p.text()) == p));
}

BOOST_DATA_TEST_CASE(refuses_anything_else_naming_the_value, boost::unit_test::data::make(bad_cases), c) {
    const auto parsed = RoutePattern::parse(c.input);
    BOOST_REQUIRE(parsed.index() == 1u);
    BOOST_TEST(std::get<1>(parsed) == "not a domain name, \"*.domain\" or \"*\" (\"" + std::string(c.input) + "\")");
}

BOOST_DATA_TEST_CASE(matches_domains, boost::unit_test::data::make(match_cases), c) {
    const RoutePattern p = pattern(c.pattern);
    BOOST_TEST(p.matches(c.domain) == c.matches);
    BOOST_TEST(p.matches_subdomains_of(c.domain) == c.matches_subdomains);
    // The suffix lookups the map generators index wildcard routes with find exactly those that match.
    if (!p.is_wildcard()) return;
    bool listed = false;
    for_each_wildcard_suffix(c.domain, [&](std::string_view suffix) {
        listed = listed || suffix == p.suffix();
        return true;
    });
    BOOST_TEST(listed == c.matches);
}

BOOST_AUTO_TEST_CASE(wildcard_suffixes_come_most_specific_first_until_told_to_stop) {
    std::vector<std::string> seen;
    for_each_wildcard_suffix("a.b.example.com", [&](std::string_view suffix) {
        seen.emplace_back(suffix);
        return true;
    });
    BOOST_TEST(seen == (std::vector<std::string>{".b.example.com", ".example.com", ".com"}), boost::test_tools::per_element());
    seen.clear();
    for_each_wildcard_suffix("a.b.example.com", [&](std::string_view suffix) {
        seen.emplace_back(suffix);
        return false;
    });
    BOOST_TEST(seen == std::vector<std::string>{".b.example.com"}, boost::test_tools::per_element());
    for (const char* none : {"", "com", ".com"})
        for_each_wildcard_suffix(none, [&](std::string_view suffix) {
            BOOST_ERROR(std::string(suffix) + " for " + none);
            return true;
        });
}

BOOST_AUTO_TEST_CASE(empty_pattern_matches_nothing) {
    const RoutePattern none;
    BOOST_TEST(none.empty());
    BOOST_TEST(static_cast<int>(none.kind()) == static_cast<int>(Kind::none));
    BOOST_TEST(!none.is_exact());
    BOOST_TEST(!none.is_wildcard());
    BOOST_TEST(!none.is_catch_all());
    BOOST_TEST(none.text() == "");
    BOOST_TEST(none.base() == "");
    BOOST_TEST(none.suffix() == "");
    for (const char* d : {"", "example.com", "*"}) {
        BOOST_TEST(!none.matches(d), d);
        BOOST_TEST(!none.matches_subdomains_of(d), d);
    }
    BOOST_TEST(none.specificity() < pattern("*").specificity());
    BOOST_TEST((none != pattern("*")));
}

// The most specific matching pattern wins: exact, then the longest wildcard base, then "*".
BOOST_AUTO_TEST_CASE(specificity_orders_exact_longest_wildcard_catch_all) {
    const std::vector<const char*> most_specific_first = {"a.b.example.com", "*.b.example.com", "*.example.com", "*.com",
                                                          "*"};
    for (std::size_t i = 0; i + 1 < most_specific_first.size(); ++i)
        BOOST_TEST(pattern(most_specific_first[i]).specificity() > pattern(most_specific_first[i + 1]).specificity(),
                   most_specific_first[i] << " over " << most_specific_first[i + 1]);
    // Every exact pattern outranks every wildcard, however long.
    BOOST_TEST(pattern("x.test").specificity() > pattern("*.a.very.long.wildcard.base.example.com").specificity());
    // All of them match a.b.example.com; picking by specificity gives the exact one, then the
    // next when it is gone (the order Policy::route_for_domain applies).
    std::vector<RoutePattern> ps;
    for (const char* t : most_specific_first) ps.push_back(pattern(t));
    const auto best = [&](std::string_view domain) {
        const RoutePattern* winner = nullptr;
        for (const RoutePattern& p : ps)
            if (p.matches(domain) && (winner == nullptr || p.specificity() > winner->specificity())) winner = &p;
        return winner == nullptr ? std::string("(none)") : winner->text();
    };
    BOOST_TEST(best("a.b.example.com") == "a.b.example.com");
    BOOST_TEST(best("c.b.example.com") == "*.b.example.com");
    BOOST_TEST(best("b.example.com") == "*.example.com");
    BOOST_TEST(best("example.com") == "*.com");
    BOOST_TEST(best("example.net") == "*");
}

// RouteTable::index_for_domain and the image's Policy::route_for_domain (hash lookups: exact,
// each parent suffix, then "*") pick the very route that the most specific matching pattern names.
BOOST_AUTO_TEST_CASE(route_lookups_agree_with_matches_and_specificity) {
    const std::vector<const char*> patterns = {"example.com", "*.example.com", "a.example.com", "*.b.example.com",
                                               "*.com", "c.b.example.com", "*.net", "x.org"};
    const std::vector<const char*> domains = {"example.com", "a.example.com", "z.a.example.com", "b.example.com",
                                              "c.b.example.com", "d.c.b.example.com", "q.b.example.com", "com",
                                              "other.com", "example.net", "net", "x.org", "y.x.org", "org", "xexample.com"};
    for (const bool with_catch_all : {false, true}) {
        Config config;
        for (const char* t : patterns) {
            RouteConfig r;
            r.pattern = pattern(t);
            config.routes.push_back(r);
        }
        if (with_catch_all) {
            RouteConfig r;
            r.pattern = pattern("*");
            config.routes.push_back(r);
        }
        const RouteTable table(config);
        const Policy::Opened image = policy_in_memory(config);
        BOOST_REQUIRE_MESSAGE(image.policy != nullptr, image.error);
        BOOST_REQUIRE(image.policy->route_count() == config.routes.size());
        int routed = 0;
        for (const char* d : domains) {
            std::uint32_t expected = RouteTable::none;
            for (std::uint32_t i = 0; i < config.routes.size(); ++i) {
                const RoutePattern& p = config.routes[i].pattern;
                if (p.matches(d) && (expected == RouteTable::none ||
                                     p.specificity() > config.routes[expected].pattern.specificity()))
                    expected = i;
            }
            routed += expected != RouteTable::none;
            const std::string what = d + std::string(with_catch_all ? " with \"*\"" : "");
            BOOST_TEST(table.index_for_domain(d) == expected, what);
            BOOST_TEST(image.policy->route_for_domain(d) == (expected == RouteTable::none ? Policy::no_route : expected),
                       what);
        }
        BOOST_TEST(routed == (with_catch_all ? 15 : 11));
    }
}

BOOST_AUTO_TEST_CASE(equality_is_by_canonical_text) {
    BOOST_TEST((pattern("Example.COM.") == pattern("example.com")));
    BOOST_TEST((pattern("*.example.com") != pattern("example.com")));
    BOOST_TEST((pattern("*") == pattern("*")));
}

BOOST_AUTO_TEST_SUITE_END()
