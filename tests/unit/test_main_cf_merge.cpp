#define BOOST_TEST_DYN_LINK
#include "route_milter/postfix/main_cf_merge.hpp"

#include <boost/test/unit_test.hpp>

using namespace route_milter;

namespace {

bool ours(std::string_view element, const void*) {
    return element.find(":/etc/postfix/rm/") != std::string_view::npos || element.find("inet:127.0.0.1:8891") != std::string_view::npos;
}

MainCfMerge merge(const std::vector<MainCfWanted>& wanted, const MainCfState& state) {
    return merge_main_cf(wanted, state, ours, nullptr);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(main_cf_merge)

BOOST_AUTO_TEST_CASE(lists_split_as_postfix_splits_them) {
    const std::vector<std::string> e = split_main_cf_list(" a, b\tc ,{ inet:h:1, default_action=accept },,d");
    BOOST_TEST(e == (std::vector<std::string>{"a", "b", "c", "{ inet:h:1, default_action=accept }", "d"}),
               boost::test_tools::per_element());
    BOOST_TEST(join_main_cf_list(e) == "a, b, c, { inet:h:1, default_action=accept }, d");
}

// Ours first, every milter of the admin's after it in order; an entry of ours from an earlier
// apply (plain or in braces, other table type) is replaced, never doubled.
BOOST_AUTO_TEST_CASE(lists_keep_the_admins_elements_in_order) {
    const std::vector<MainCfWanted> wanted{
        {"smtpd_milters", "{ inet:127.0.0.1:8891, default_action=tempfail }", MergeKind::list, "", ""},
        {"transport_maps", "cdb:/etc/postfix/rm/transport", MergeKind::list, "", ""}};
    MainCfState state;
    state.explicit_values = {{"smtpd_milters", "inet:127.0.0.1:8892, inet:127.0.0.1:8891, { unix:/r.sock, default_action=accept }"},
                             {"transport_maps", "hash:/etc/postfix/rm/transport hash:/etc/postfix/transport"}};
    const MainCfMerge m = merge(wanted, state);
    BOOST_TEST(m.set.at("smtpd_milters") ==
               "{ inet:127.0.0.1:8891, default_action=tempfail }, inet:127.0.0.1:8892, { unix:/r.sock, default_action=accept }");
    BOOST_TEST(m.set.at("transport_maps") == "cdb:/etc/postfix/rm/transport, hash:/etc/postfix/transport");
    BOOST_TEST(m.warnings.empty());
    // Merging the result again changes nothing.
    MainCfState again;
    again.explicit_values = m.set;
    BOOST_TEST(merge(wanted, again).set.empty());
}

BOOST_AUTO_TEST_CASE(required_replaces_and_says_so_preferred_keeps_and_says_so) {
    const std::vector<MainCfWanted> wanted{
        {"default_transport", "smtp:[relay]:587", MergeKind::required, "the * route", ""},
        {"maximal_queue_lifetime", "7200m", MergeKind::preferred, "the schedule", ""},
        {"bounce_queue_lifetime", "7200m", MergeKind::preferred, "the schedule", "maximal_queue_lifetime"},
        {"smtp_sasl_auth_enable", "yes", MergeKind::required, "auth", ""}};
    MainCfState state;
    state.explicit_values = {{"default_transport", "smtp:[old]:25"}, {"maximal_queue_lifetime", "2d"}};
    const MainCfMerge m = merge(wanted, state);
    BOOST_TEST(m.set.at("default_transport") == "smtp:[relay]:587");
    BOOST_TEST(m.set.count("maximal_queue_lifetime") == 0u);
    BOOST_TEST(m.set.count("bounce_queue_lifetime") == 0u);  // its pair is the admin's
    BOOST_TEST(m.set.at("smtp_sasl_auth_enable") == "yes");
    BOOST_REQUIRE(m.warnings.size() == 2u);
    BOOST_TEST(m.warnings[0].find("default_transport was \"smtp:[old]:25\"") == 0u);
    BOOST_TEST(m.warnings[1].find("maximal_queue_lifetime is \"2d\" and is left so") == 0u);
    // A value the last apply set is ours: it follows the routes without a warning.
    state.applied = {{"default_transport", "smtp:[old]:25"}, {"maximal_queue_lifetime", "2d"}};
    const MainCfMerge ours_before = merge(wanted, state);
    BOOST_TEST(ours_before.warnings.empty());
    BOOST_TEST(ours_before.set.at("maximal_queue_lifetime") == "7200m");
    BOOST_TEST(ours_before.set.at("bounce_queue_lifetime") == "7200m");
}

// What the routes need gone leaves the admin's value; everything else of it stays.
BOOST_AUTO_TEST_CASE(remove_takes_out_only_what_must_go) {
    const std::vector<MainCfWanted> wanted{{"parent_domain_matches_subdomains", "mynetworks, smtpd_access_maps",
                                            MergeKind::remove, "routes are exact", ""}};
    MainCfState state;
    state.defaults = {{"parent_domain_matches_subdomains", "mynetworks, relay_domains, smtpd_access_maps"}};
    BOOST_TEST(merge(wanted, state).set.at("parent_domain_matches_subdomains") == "mynetworks, smtpd_access_maps");
    state.explicit_values = {{"parent_domain_matches_subdomains", "relay_domains, debug_peer_list"}};
    const MainCfMerge m = merge(wanted, state);
    BOOST_TEST(m.set.at("parent_domain_matches_subdomains") == "debug_peer_list");
    BOOST_TEST(m.warnings.size() == 1u);
    state.explicit_values = {{"parent_domain_matches_subdomains", "debug_peer_list"}};
    BOOST_TEST(merge(wanted, state).set.empty());
}

BOOST_AUTO_TEST_SUITE_END()
