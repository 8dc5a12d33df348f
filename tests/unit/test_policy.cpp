#define BOOST_TEST_DYN_LINK
#include "route_milter/config_loader.hpp"
#include "route_milter/policy.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

using namespace route_milter;

namespace {

std::shared_ptr<const Policy> policy_from(const std::string& text) {
    PolicyResult r = load_policy_text(text, "policy-test.conf");
    BOOST_REQUIRE_MESSAGE(r.policy != nullptr, testing::errors_text(r));
    return r.policy;
}

Decision decide(const Policy& p, const char* client, const char* from, const char* to, bool auth = false) {
    return p.decide(Query{parse_ip_address(client), auth, from, to});
}

std::string rule(const Decision& d) { return std::string(name_of(d.rule)); }

const char* routes_conf = R"(
    local_domains = [ "local.example" ];
    routes = (
      { domain = "backup.example"; treat_recipient_as = "local"; deliver_to = "listed";
        addresses = [ "alice@backup.example", "Bob@Backup.Example" ]; },
      { domain = "partner.example"; treat_recipient_as = "external"; },
      { domain = "*.wild.example"; treat_recipient_as = "local"; },
      { domain = "*.deep.wild.example"; treat_recipient_as = "external"; },
      { domain = "exact.wild.example"; deliver_to = "listed"; addresses = [ "only@exact.wild.example" ]; },
      { domain = "bücher.example"; deliver_to = "listed"; addresses = [ "leser@BÜCHER.example" ]; },
      { domain = "trusted.example"; treat_sender_as = "local"; deliver_to = "listed";
        addresses = [ "boss@trusted.example" ]; }
    );
)";

}  // namespace

BOOST_AUTO_TEST_SUITE(policy)

// The delivery-class table: 4 classes x allowed x auth required x authenticated.
BOOST_AUTO_TEST_CASE(delivery_class_table) {
    struct Party {
        AddressClass cls;
        const char* address;
    };
    const Party senders[] = {{AddressClass::local, "<me@local.example>"}, {AddressClass::external, "<you@far.example>"}};
    const Party recipients[] = {{AddressClass::local, "<x@local.example>"}, {AddressClass::external, "<x@far.example>"}};
    int checked = 0;
    for (const Party& s : senders)
        for (const Party& r : recipients)
            for (bool allowed : {false, true})
                for (bool auth_required : {false, true})
                    for (bool authenticated : {false, true}) {
                        const std::string cls(name_of(delivery_class(s.cls, r.cls)));
                        const std::string conf =
                            "scope = \"all\"; local_domains = [ \"local.example\" ];\n"
                            "ip_ranges = ( { name = \"lab\"; cidr = \"192.0.2.0/24\"; priority = 1;\n"
                            "  allow = [ " + (allowed ? "\"" + cls + "\"" : std::string()) + " ];\n"
                            "  require_auth = [ " + (auth_required ? "\"" + cls + "\"" : std::string()) + " ]; } );\n";
                        const auto p = policy_from(conf);
                        const Decision d = decide(*p, "192.0.2.9", s.address, r.address, authenticated);
                        const char* expected = !allowed                           ? "not-allowed"
                                               : (auth_required && !authenticated) ? "auth-required"
                                                                                   : "accepted";
                        BOOST_TEST(rule(d) == expected, cls << " allowed=" << allowed << " auth_required="
                                                            << auth_required << " authenticated=" << authenticated);
                        BOOST_TEST(name_of(d.delivery_class) == cls);
                        ++checked;
                    }
    BOOST_TEST(checked == 32);
}

BOOST_AUTO_TEST_CASE(hmailserver_default_ranges) {
    const auto p = policy_from(std::string("scope = \"all\";\n") + routes_conf);
    // "My computer": everything allowed, auth only for external-external.
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<x@partner.example>")) == "auth-required");
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<x@partner.example>", true)) == "accepted");
    BOOST_TEST(rule(decide(*p, "::1", "<a@far.example>", "<x@partner.example>")) == "auth-required");
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<me@local.example>", "<x@partner.example>")) == "accepted");
    // "Internet": external-local needs no auth (backup MX), the other three do.
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<alice@backup.example>")) == "accepted");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<x@local.example>")) == "accepted");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<me@local.example>", "<x@local.example>")) == "auth-required");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<me@local.example>", "<x@partner.example>")) == "auth-required");
    BOOST_TEST(rule(decide(*p, "2001:db8::5", "<a@far.example>", "<x@partner.example>")) == "auth-required");
    BOOST_TEST(rule(decide(*p, "2001:db8::5", "<a@far.example>", "<x@partner.example>", true)) == "accepted");
    const Decision d = decide(*p, "203.0.113.5", "<a@far.example>", "<x@partner.example>");
    BOOST_REQUIRE(d.range != nullptr);
    BOOST_TEST(d.range->name == "Internet");
    BOOST_REQUIRE(d.route != nullptr);
    BOOST_TEST(d.route->domain == "partner.example");
}

BOOST_AUTO_TEST_CASE(listed_route) {
    const auto p = policy_from(routes_conf);
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<alice@backup.example>")) == "accepted");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<ALICE@Backup.EXAMPLE.>")) == "accepted");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<bob@backup.example>")) == "accepted");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<carol@backup.example>")) == "not-listed");
    // Rule 1 comes before the range rules: even a trusted, authenticated client is refused.
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<carol@backup.example>", true)) == "not-listed");
    const SmtpReply reply = reply_for(Rule::not_listed);
    BOOST_TEST(reply.code == "550");
    BOOST_TEST(reply.xcode == "5.1.1");
    BOOST_TEST(reply.text == "Recipient not in route list.");
}

BOOST_AUTO_TEST_CASE(scope_routes_leaves_other_domains_alone) {
    const auto p = policy_from(routes_conf);
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<me@local.example>", "<x@nowhere.example>")) == "out-of-scope");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<me@local.example>", "<x@local.example>")) == "out-of-scope");
    BOOST_TEST(!decide(*p, "203.0.113.5", "<me@local.example>", "<x@local.example>").rejects());
    const auto all = policy_from(std::string("scope = \"all\";\n") + routes_conf);
    BOOST_TEST(rule(decide(*all, "203.0.113.5", "<me@local.example>", "<x@nowhere.example>")) == "auth-required");
}

BOOST_AUTO_TEST_CASE(wildcard_precedence) {
    const auto p = policy_from(routes_conf);
    const auto route_of = [&](const char* domain) {
        const RouteConfig* r = p->route_for_domain(domain);
        return r == nullptr ? std::string("(none)") : r->domain;
    };
    BOOST_TEST(route_of("a.wild.example") == "*.wild.example");
    BOOST_TEST(route_of("x.y.wild.example") == "*.wild.example");
    BOOST_TEST(route_of("wild.example") == "(none)");  // "*.d" is not d itself
    BOOST_TEST(route_of("a.deep.wild.example") == "*.deep.wild.example");
    BOOST_TEST(route_of("deep.wild.example") == "*.wild.example");
    BOOST_TEST(route_of("exact.wild.example") == "exact.wild.example");
    BOOST_TEST(route_of("sub.exact.wild.example") == "*.wild.example");
    const auto with_catch_all = policy_from("routes = ( { domain = \"*\"; }, { domain = \"*.example\"; } );");
    BOOST_TEST(with_catch_all->route_for_domain("a.example")->domain == "*.example");
    BOOST_TEST(with_catch_all->route_for_domain("other.test")->domain == "*");
    BOOST_TEST(with_catch_all->route_for_domain("example")->domain == "*");
    // Listed addresses of an exact route inside a wildcard's domain belong to the exact route.
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<only@exact.wild.example>")) != "not-listed");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<other@exact.wild.example>")) == "not-listed");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<any@sub.wild.example>")) == "accepted");
}

BOOST_AUTO_TEST_CASE(idn_labels_match_both_forms) {
    const auto p = policy_from(routes_conf);
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<leser@xn--bcher-kva.example>", true)) == "accepted");
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<Leser@Bücher.example>", true)) == "accepted");
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<other@bücher.example>", true)) == "not-listed");
}

BOOST_AUTO_TEST_CASE(sender_class) {
    const auto p = policy_from(routes_conf);
    NormalizedAddress a;
    const auto sender = [&](const char* raw) {
        BOOST_REQUIRE(parse_address(raw, a) == AddressStatus::ok);
        return p->classify_sender(a);
    };
    BOOST_TEST((sender("<me@local.example>") == AddressClass::local));
    BOOST_TEST((sender("<me@LOCAL.example.>") == AddressClass::local));
    BOOST_TEST((sender("<>") == AddressClass::external));
    BOOST_TEST((sender("<postmaster>") == AddressClass::external));
    BOOST_TEST((sender("<you@far.example>") == AddressClass::external));
    // treat_sender_as = "local" on a listed route: only the listed address is local.
    BOOST_TEST((sender("<boss@trusted.example>") == AddressClass::local));
    BOOST_TEST((sender("<intern@trusted.example>") == AddressClass::external));
    // treat_recipient_as does not make senders local.
    BOOST_TEST((sender("<alice@backup.example>") == AddressClass::external));
}

BOOST_AUTO_TEST_CASE(range_priority_and_uncovered_clients) {
    const auto p = policy_from(R"(
        scope = "all";
        ip_ranges = ( { name = "wide"; cidr = "10.0.0.0/8"; priority = 10; allow = [ "external-external" ]; },
                      { name = "narrow"; cidr = "10.1.0.0/16"; priority = 20; allow = [ ]; },
                      { name = "low"; cidr = "10.1.2.0/24"; priority = 5; allow = [ "external-external" ]; } );
    )");
    BOOST_TEST(rule(decide(*p, "10.2.0.1", "<a@b.example>", "<c@d.example>")) == "accepted");
    BOOST_TEST(rule(decide(*p, "10.1.0.1", "<a@b.example>", "<c@d.example>")) == "not-allowed");
    BOOST_TEST(decide(*p, "10.1.2.3", "<a@b.example>", "<c@d.example>").range->name == "narrow");
    BOOST_TEST(rule(decide(*p, "11.0.0.1", "<a@b.example>", "<c@d.example>")) == "not-allowed");
    BOOST_TEST(decide(*p, "11.0.0.1", "<a@b.example>", "<c@d.example>").range == nullptr);
    BOOST_TEST(rule(p->decide(Query{std::nullopt, true, "<a@b.example>", "<c@d.example>"})) == "not-allowed");
}

BOOST_AUTO_TEST_CASE(bad_recipient_is_rejected_not_accepted) {
    const auto p = policy_from(routes_conf);
    const Decision d = decide(*p, "127.0.0.1", "<a@far.example>", "<\"unterminated@backup.example>");
    BOOST_TEST(rule(d) == "bad-address");
    BOOST_TEST(d.rejects());
}

BOOST_AUTO_TEST_CASE(staged_decision_matches_whole_decision) {
    const auto p = policy_from(routes_conf);
    NormalizedAddress sender, rcpt;
    BOOST_REQUIRE(parse_address("<a@far.example>", sender) == AddressStatus::ok);
    const MessageFacts facts = p->message_facts(parse_ip_address("203.0.113.5"), false, &sender);
    for (const char* to : {"<alice@backup.example>", "<carol@backup.example>", "<x@partner.example>", "<x@else.example>"}) {
        BOOST_REQUIRE(parse_address(to, rcpt) == AddressStatus::ok);
        BOOST_TEST(rule(p->decide_recipient(facts, rcpt)) == rule(decide(*p, "203.0.113.5", "<a@far.example>", to)), to);
    }
}

BOOST_AUTO_TEST_CASE(compiled_policy_indexes_addresses) {
    const auto p = policy_from(routes_conf);
    BOOST_TEST(p->listed_address_count() == 5u);  // alice, bob, only, leser, boss
}

BOOST_AUTO_TEST_SUITE_END()
