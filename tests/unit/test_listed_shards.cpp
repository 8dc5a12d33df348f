// The listed-address index in shards: a reload builds only the shards whose inputs changed, and
// the checks across routes see every shard, kept or built.
#define BOOST_TEST_DYN_LINK
#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/listed_addresses.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

using namespace route_milter;
using testing::ConfigDir;
using testing::rule_for;

namespace {

std::string text_of(const Diagnostics& errors) {
    std::string out;
    for (const Diagnostic& d : errors) out += format_diagnostic(d) + "\n";
    return out;
}

// A route listing its addresses in a file (treat_recipient_as local: a listed recipient is
// accepted from anyone, an unlisted one is "not-listed").
std::string listed_route(const std::string& domain, const std::string& file) {
    return "  { domain = \"" + domain + "\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
           "    addresses_file = \"" + file + "\"; },\n";
}

std::string config_of(const std::vector<std::string>& routes, const std::string& before = "") {
    std::string out = before + "routes = (\n";
    for (const std::string& r : routes) out += r;
    out.erase(out.size() - 2, 1);  // the last comma
    return out + ");\n";
}

// Two domain names under `parent`, in the same shard or in different ones.
std::pair<std::string, std::string> two_domains(const std::string& parent, bool same_shard) {
    const std::string first = "c." + parent;
    for (int i = 0; i < 100000; ++i) {
        const std::string other = "s" + std::to_string(i) + "." + parent;
        if ((ListedAddresses::shard_of(first) == ListedAddresses::shard_of(other)) == same_shard) return {first, other};
    }
    BOOST_FAIL("no such pair");
    return {};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(listed_shards)

// 40 routes; one file changes, then a route is inserted at the front (every route's index moves).
BOOST_AUTO_TEST_CASE(reload_builds_only_the_shards_whose_inputs_changed) {
    ConfigDir d;
    std::vector<std::string> routes;
    for (int i = 0; i < 40; ++i) {
        const std::string n = std::to_string(i);
        routes.push_back(listed_route("d" + n + ".test", "d" + n + ".list"));
        d.write("d" + n + ".list", "u1@d" + n + ".test\nu2@d" + n + ".test\n");
    }
    const std::string main = d.write("main.conf", config_of(routes));
    const PolicyResult first = load_policy_file(main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(first.policy != nullptr, text_of(first.errors));
    const ListedAddresses& was = first.policy->config().listed;
    BOOST_TEST(was.kept_shards().none());
    const std::size_t in_use = was.shards_in_use();
    BOOST_TEST(in_use > 20u);  // 40 routes spread over the shards

    // Unchanged: every shard kept, the very same index.
    const PolicyResult same = load_policy_file(main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(same.policy != nullptr, text_of(same.errors));

    // One file changes: its shard alone is built.
    d.write("d7.list", "u1@d7.test\nnew@d7.test\n");
    const PolicyResult changed = load_policy_file(main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(changed.policy != nullptr, text_of(changed.errors));
    const Policy& p = *changed.policy;
    BOOST_TEST(rule_for(p, "new@d7.test") == "no-objection");
    BOOST_TEST(rule_for(p, "u2@d7.test") == "not-listed");
    BOOST_TEST(rule_for(*first.policy, "u2@d7.test") == "no-objection");  // the running policy: untouched
    BOOST_TEST(rule_for(*first.policy, "new@d7.test") == "not-listed");
    for (int i = 0; i < 40; ++i) {
        const std::string n = std::to_string(i);
        BOOST_TEST(rule_for(p, "u1@d" + n + ".test") == "no-objection", n);
        BOOST_TEST(rule_for(p, "u1@d" + std::to_string((i + 1) % 40) + ".test.x") != "no-objection", n);
        BOOST_TEST(p.listed_address_count(p.config().routes[i]) == 2u, n);
        if (i != 7) BOOST_TEST(rule_for(p, "u2@d" + n + ".test") == "no-objection", n);
    }
    BOOST_TEST(p.listed_address_count() == 80u);

    // A route inserted first: every route's index moves by one, their shards are kept, and each
    // still answers for its own addresses only.
    d.write("new.list", "n@new.test\n");
    routes.insert(routes.begin(), listed_route("new.test", "new.list"));
    d.write("main.conf", config_of(routes));
    const PolicyResult moved = load_policy_file(main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(moved.policy != nullptr, text_of(moved.errors));
    const Policy& q = *moved.policy;
    BOOST_TEST(rule_for(q, "n@new.test") == "no-objection");
    BOOST_TEST(rule_for(q, "x@new.test") == "not-listed");
    for (int i = 0; i < 40; ++i) {
        const std::string n = std::to_string(i);
        BOOST_TEST(rule_for(q, "u1@d" + n + ".test") == "no-objection", n);
        BOOST_TEST(rule_for(q, "n@d" + n + ".test") == "not-listed", n);
        BOOST_TEST(q.listed_address_count(q.config().routes[i + 1]) == 2u, n);
    }
}

// Inline addresses are inputs of their shard too, and a broken file is refused while its shard
// would otherwise have been kept.
BOOST_AUTO_TEST_CASE(inline_addresses_and_broken_files_are_inputs_of_their_shard) {
    ConfigDir d;
    d.write("a.list", "f@a.test\n");
    const std::string head = "routes = (\n  { domain = \"a.test\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
                             "    addresses_file = \"a.list\"; addresses = [ ";
    const std::string main = d.write("main.conf", head + "\"i@a.test\" ]; } );\n");
    const PolicyResult first = load_policy_file(main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(first.policy != nullptr, text_of(first.errors));
    d.write("main.conf", head + "\"j@a.test\" ]; } );\n");
    const PolicyResult next = load_policy_file(main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(next.policy != nullptr, text_of(next.errors));
    BOOST_TEST(next.policy->config().listed.kept_shards().none());
    BOOST_TEST(rule_for(*next.policy, "j@a.test") == "no-objection");
    BOOST_TEST(rule_for(*next.policy, "i@a.test") == "not-listed");
    BOOST_TEST(rule_for(*next.policy, "f@a.test") == "no-objection");

    d.write("a.list", "f@a.test\nx@b.test\n");
    const PolicyResult broken = load_policy_file(main, UserCheck::skip);
    BOOST_TEST(broken.policy == nullptr);
    BOOST_TEST(text_of(broken.errors).find(d.path + "/a.list:2: ") != std::string::npos, text_of(broken.errors));
}

// One address under a wildcard route and under the route of its domain: both errors, naming
// the lines, whether the two routes share a shard or not.
BOOST_AUTO_TEST_CASE(an_address_two_routes_list_is_reported_whichever_shards_they_are_in) {
    for (const bool same : {true, false}) {
        const auto [exact, other] = two_domains("w.example", same);
        // The wildcard's shard: pick a parent whose "*.parent" shares (or not) the exact's.
        std::string parent;
        for (int i = 0; i < 100000 && parent.empty(); ++i) {
            const std::string p = "p" + std::to_string(i) + ".example";
            if ((ListedAddresses::shard_of("*." + p) == ListedAddresses::shard_of("c." + p)) == same) parent = p;
        }
        BOOST_REQUIRE(!parent.empty());
        const std::string text =
            "routes = ( { domain = \"*." + parent + "\"; deliver_to = \"listed\"; addresses = [ \"x@c." + parent +
            "\" ]; },\n { domain = \"c." + parent + "\"; deliver_to = \"listed\";\n addresses = [ \"x@c." + parent +
            "\" ]; } );\n";
        const PolicyResult r = load_policy_text(text, "test.conf");
        BOOST_TEST(r.policy == nullptr);
        const std::string e = text_of(r.errors);
        BOOST_TEST(e.find("test.conf:3: routes: address listed twice, also under *." + parent + " (line 1) (\"x@c." +
                          parent + "\")") != std::string::npos, same << ": " << e);
        BOOST_TEST(e.find("test.conf:1: routes: address is listed under *." + parent + " but route c." + parent +
                          " (line 2) takes its domain") != std::string::npos, same << ": " << e);
        BOOST_TEST(r.errors.size() == 2u, e);
        (void)exact;
        (void)other;
    }
}

// Several wildcard routes in one kept shard: its index is walked once, each address checked
// under the route that lists it (under another one it would look taken by its own route, and the
// reload would build every shard again), and an error is still found under the right one.
BOOST_AUTO_TEST_CASE(wildcard_routes_sharing_a_kept_shard_are_each_checked_under_their_own_route) {
    ConfigDir d;
    std::vector<std::string> names;  // *.wN.example, all in the shard of the first
    for (int i = 0; names.size() < 5; ++i) {
        const std::string pattern = "*.w" + std::to_string(i) + ".example";
        if (names.empty() || ListedAddresses::shard_of(pattern) == ListedAddresses::shard_of(names.front()))
            names.push_back(pattern);
    }
    std::vector<std::string> routes;
    for (std::size_t i = 0; i < names.size(); ++i) {
        const std::string domain = names[i].substr(2);
        d.write("w" + std::to_string(i) + ".list", "a@x." + domain + "\nb@y." + domain + "\n");
        routes.push_back(listed_route(names[i], "w" + std::to_string(i) + ".list"));
    }
    const std::string main = d.write("main.conf", config_of(routes));
    const PolicyResult first = load_policy_file(main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(first.policy != nullptr, text_of(first.errors));
    BOOST_REQUIRE(first.policy->config().listed.shards_in_use() == 1u);

    const PolicyResult same = load_policy_file(main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(same.policy != nullptr, text_of(same.errors));
    for (const std::string& n : names) BOOST_TEST(rule_for(*same.policy, "b@y." + n.substr(2)) == "no-objection");

    // An exact route for the fourth one's x. subdomain: its line 1 is named, under its route.
    const std::string taken = "x." + names[3].substr(2);
    routes.push_back("  { domain = \"" + taken + "\"; },\n");
    d.write("main.conf", config_of(routes));
    const PolicyResult r = load_policy_file(main, UserCheck::skip);
    BOOST_TEST(r.policy == nullptr);
    BOOST_TEST(text_of(r.errors).find(d.path + "/w3.list:1: routes: address is listed under " + names[3] + " but route " +
                                      taken + " (") != std::string::npos,
               text_of(r.errors));
    BOOST_TEST(r.errors.size() == 1u, text_of(r.errors));
}

// A reload that makes an address of a kept shard wrong (a route or a local domain now takes its
// domain, or another route lists it too) names the file and line, as a fresh load would.
BOOST_AUTO_TEST_CASE(an_error_in_a_kept_shard_names_its_file_and_line) {
    ConfigDir d;
    d.write("w.list", "# wildcard\nx@c.w.example\ny@d.w.example\n");
    const std::string wildcard = listed_route("*.w.example", "w.list");
    const std::string main = d.write("main.conf", config_of({wildcard}));
    const PolicyResult first = load_policy_file(main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(first.policy != nullptr, text_of(first.errors));

    // A route of c.w.example listing nothing: the wildcard's shard is unchanged, its address wrong.
    d.write("main.conf", config_of({wildcard, "  { domain = \"c.w.example\"; },\n"}));
    PolicyResult r = load_policy_file(main, UserCheck::skip);
    BOOST_TEST(r.policy == nullptr);
    BOOST_TEST(text_of(r.errors).find(d.path + "/w.list:2: routes: address is listed under *.w.example but route "
                                      "c.w.example (" + main + ":4) takes its domain") != std::string::npos,
               text_of(r.errors));

    d.write("main.conf", config_of({wildcard}, "local_domains = [ \"d.w.example\" ];\n"));
    r = load_policy_file(main, UserCheck::skip);
    BOOST_TEST(r.policy == nullptr);
    BOOST_TEST(text_of(r.errors).find(d.path + "/w.list:3: routes: address is listed under *.w.example but "
                                      "d.w.example is one of local_domains") != std::string::npos,
               text_of(r.errors));

    // Another route's new file lists the wildcard's address: both lines named.
    d.write("c.list", "z@c.w.example\nx@c.w.example\n");
    d.write("main.conf", config_of({wildcard, listed_route("c.w.example", "c.list")}));
    r = load_policy_file(main, UserCheck::skip);
    BOOST_TEST(r.policy == nullptr);
    BOOST_TEST(text_of(r.errors).find(d.path + "/c.list:2: routes: address listed twice, also under *.w.example (" +
                                      main + ":2)") != std::string::npos,
               text_of(r.errors));
    BOOST_TEST(text_of(r.errors).find(d.path + "/w.list:2: routes: address is listed under *.w.example") !=
                   std::string::npos,
               text_of(r.errors));

    // And the running policy still answers as before.
    BOOST_TEST(rule_for(*first.policy, "x@c.w.example") == "no-objection");
}

BOOST_AUTO_TEST_SUITE_END()
