#define BOOST_TEST_DYN_LINK
#include "route_milter/config/config_loader.hpp"
#include "route_milter/core/policy.hpp"
#include "route_milter/config/load_policy.hpp"
#include "route_milter/image/policy_image_file.hpp"

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
      { domain = "bücher.example"; deliver_to = "listed"; addresses = [ "leser@Bücher.EXAMPLE" ]; },
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
                                                                                   : "no-objection";
                        BOOST_TEST(rule(d) == expected, cls << " allowed=" << allowed << " auth_required="
                                                            << auth_required << " authenticated=" << authenticated);
                        BOOST_REQUIRE(d.delivery_class.has_value());
                        BOOST_TEST(name_of(*d.delivery_class) == cls);
                        ++checked;
                    }
    BOOST_TEST(checked == 32);
}

BOOST_AUTO_TEST_CASE(hmailserver_default_ranges) {
    const auto p = policy_from(std::string("scope = \"all\";\n") + routes_conf);
    // "My computer": everything allowed, auth only for external-external.
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<x@partner.example>")) == "auth-required");
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<x@partner.example>", true)) == "no-objection");
    BOOST_TEST(rule(decide(*p, "::1", "<a@far.example>", "<x@partner.example>")) == "auth-required");
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<me@local.example>", "<x@partner.example>")) == "no-objection");
    // "Internet": external-local needs no auth (backup MX), the other three do.
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<alice@backup.example>")) == "no-objection");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<x@local.example>")) == "no-objection");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<me@local.example>", "<x@local.example>")) == "auth-required");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<me@local.example>", "<x@partner.example>")) == "auth-required");
    BOOST_TEST(rule(decide(*p, "2001:db8::5", "<a@far.example>", "<x@partner.example>")) == "auth-required");
    BOOST_TEST(rule(decide(*p, "2001:db8::5", "<a@far.example>", "<x@partner.example>", true)) == "no-objection");
    const Decision d = decide(*p, "203.0.113.5", "<a@far.example>", "<x@partner.example>");
    BOOST_REQUIRE(d.range != nullptr);
    BOOST_TEST(d.range->name == "Internet");
    BOOST_REQUIRE(static_cast<bool>(d.route));
    BOOST_TEST(d.route.pattern == "partner.example");
    BOOST_TEST(p->route(d.route.index).pattern == "partner.example");
    BOOST_TEST(d.route.line == p->route(d.route.index).record.line);
    BOOST_TEST(d.route.line > 0u);
}

BOOST_AUTO_TEST_CASE(listed_route) {
    const auto p = policy_from(routes_conf);
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<alice@backup.example>")) == "no-objection");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<ALICE@Backup.EXAMPLE.>")) == "no-objection");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<bob@backup.example>")) == "no-objection");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<carol@backup.example>")) == "not-listed");
    // Rule 1 comes before the range rules: even a trusted, authenticated client is refused.
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<carol@backup.example>", true)) == "not-listed");
    const SmtpReply reply = reply_for(Rule::not_listed);
    BOOST_TEST(std::string_view(reply.code) == "550");
    BOOST_TEST(std::string_view(reply.xcode) == "5.1.1");
    BOOST_TEST(std::string_view(reply.text) == "Recipient not in route list.");
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
    const auto route_of = [](const Policy& policy, const char* domain) {
        const std::uint32_t i = policy.route_for_domain(domain);
        if (i == Policy::no_route) return std::string("(none)");
        if (i == Policy::damaged) return std::string("(damaged)");
        return std::string(policy.route(i).pattern);
    };
    BOOST_TEST(route_of(*p, "a.wild.example") == "*.wild.example");
    BOOST_TEST(route_of(*p, "x.y.wild.example") == "*.wild.example");
    BOOST_TEST(route_of(*p, "wild.example") == "(none)");  // "*.d" is not d itself
    BOOST_TEST(route_of(*p, "a.deep.wild.example") == "*.deep.wild.example");
    BOOST_TEST(route_of(*p, "deep.wild.example") == "*.wild.example");
    BOOST_TEST(route_of(*p, "exact.wild.example") == "exact.wild.example");
    BOOST_TEST(route_of(*p, "sub.exact.wild.example") == "*.wild.example");
    const auto with_catch_all = policy_from("routes = ( { domain = \"*\"; }, { domain = \"*.example\"; } );");
    BOOST_TEST(route_of(*with_catch_all, "a.example") == "*.example");
    BOOST_TEST(route_of(*with_catch_all, "other.test") == "*");
    BOOST_TEST(route_of(*with_catch_all, "example") == "*");
    // Listed addresses of an exact route inside a wildcard's domain belong to the exact route.
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<only@exact.wild.example>")) != "not-listed");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<other@exact.wild.example>")) == "not-listed");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.example>", "<any@sub.wild.example>")) == "no-objection");
}

BOOST_AUTO_TEST_CASE(idn_labels_match_both_forms) {
    const auto p = policy_from(routes_conf);
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<leser@xn--bcher-kva.example>", true)) == "no-objection");
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<Leser@Bücher.example>", true)) == "no-objection");
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<leser@B\xc3\x9c" "CHER.example>", true)) == "no-objection");
    BOOST_TEST(rule(decide(*p, "127.0.0.1", "<a@far.example>", "<other@bücher.example>", true)) == "not-listed");
    // Other spellings of the same A-labels are not in the maps Postfix reads (it folds case
    // only): refused, never judged under the route (decomposed, fullwidth, ideographic dot, soft
    // hyphen).
    for (const char* rcpt : {"<leser@bu\xcc\x88" "cher.example>", "<leser@BU\xcc\x88" "CHER.example>",
                             "<leser@\xef\xbd\x82\xc3\xbc\x63her.example>", "<leser@b\xc3\xbc\x63her\xe3\x80\x82\x65xample>",
                             "<leser@b\xc3\xbc\xc2\xad\x63her.example>"}) {
        const Decision d = decide(*p, "127.0.0.1", "<a@far.example>", rcpt, true);
        BOOST_TEST(rule(d) == "bad-address", rcpt);
        BOOST_TEST(d.rejects(), rcpt);
    }
}

BOOST_AUTO_TEST_CASE(sender_class) {
    const auto p = policy_from(routes_conf);
    NormalizedAddress a;
    const auto sender = [&](const char* raw) {
        BOOST_REQUIRE(parse_address(raw, a) == AddressStatus::ok);
        return p->message_facts(std::nullopt, false, false, &a, 0).sender_class;
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
    BOOST_TEST(rule(decide(*p, "10.2.0.1", "<a@b.example>", "<c@d.example>")) == "no-objection");
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

// Warn mode softens the policy rules only; a route's mode wins over the top-level one.
BOOST_AUTO_TEST_CASE(warn_mode_softens_policy_rules_only) {
    const auto p = policy_from(R"(
        mode = "warn"; scope = "all"; local_domains = [ "own.test" ];
        ip_ranges = ( { name = "net"; cidr = "0.0.0.0/0"; priority = 1; allow = [ "external-local", "local-local" ];
                        require_auth = [ "local-local" ]; } );
        routes = ( { domain = "backup.test"; treat_recipient_as = "local"; deliver_to = "listed";
                     addresses = [ "alice@backup.test" ]; },
                   { domain = "strict.test"; treat_recipient_as = "local"; deliver_to = "listed"; mode = "enforce";
                     addresses = [ "alice@strict.test" ]; } );
    )");
    struct Case {
        const char* from;
        const char* to;
        const char* rule;
        bool warns;
    };
    const Case cases[] = {
        {"<a@far.test>", "<carol@backup.test>", "not-listed", true},
        {"<a@far.test>", "<x@else.test>", "not-allowed", true},            // no route: top-level mode
        {"<me@own.test>", "<u@own.test>", "auth-required", true},
        {"<a@far.test>", "<v%far.test@own.test>", "routed-address", true},
        {"<a@far.test>", "<carol@strict.test>", "not-listed", false},      // the route enforces
        {"<a@far.test>", "<\"unterminated@backup.test>", "bad-address", false},  // unreadable: refused
        {"<a@far.test(x)>", "<alice@backup.test>", "bad-sender", false},
        {"<a@far.test>", "<alice@backup.test>", "no-objection", false},
    };
    for (const Case& c : cases) {
        const Decision d = decide(*p, "203.0.113.5", c.from, c.to);
        BOOST_TEST(rule(d) == c.rule, c.to);
        BOOST_TEST(d.warns() == c.warns, c.to);
        BOOST_TEST(d.refuses() == (d.rejects() && !c.warns), c.to);
    }
    BOOST_TEST((decide(*p, "203.0.113.5", "<a@far.test>", "<carol@strict.test>").mode == Mode::enforce));
    BOOST_TEST((decide(*p, "203.0.113.5", "<a@far.test>", "<carol@backup.test>").mode == Mode::warn));
    // The same config in enforce mode refuses every one of them.
    const auto enforcing = policy_from("scope = \"all\"; routes = ( { domain = \"b.test\"; mode = \"warn\"; deliver_to = "
                                       "\"listed\"; addresses = [ \"a@b.test\" ]; } );");
    BOOST_TEST(decide(*enforcing, "203.0.113.5", "<a@far.test>", "<c@b.test>").warns());
    BOOST_TEST(decide(*enforcing, "203.0.113.5", "<a@far.test>", "<c@else.test>").refuses());
    BOOST_TEST(rule(decide(*enforcing, "203.0.113.5", "<a@far.test>", "<c@else.test>")) == "auth-required");
}

// A route's warn mode rehearses its own rule (its address list) only: the IP ranges' rules stay
// enforced unless the top-level mode is warn too, and a route that enforces enforces them all.
// Every pattern kind (a "*" route softened relaying for every domain without its own route),
// every range rule, every combination of the two modes.
BOOST_AUTO_TEST_CASE(a_routes_warn_mode_never_softens_the_ranges_rules) {
    struct Recipient {
        const char* client;
        bool authenticated;
        const char* to;
        const char* rule;
        bool is_list_rule;  // the route's own rule, else one of the ranges'
    };
    const Recipient recipients[] = {
        {"203.0.113.5", false, "<x@far.test>", "not-listed", true},
        {"203.0.113.5", false, "<listed@far.test>", "auth-required", false},
        {"192.0.2.9", false, "<listed@far.test>", "not-allowed", false},
        {"198.51.100.7", true, "<listed@far.test>", "tls-required", false},
    };
    int checked = 0;
    for (const char* pattern : {"*", "*.test", "far.test"})
        for (const char* top : {"enforce", "warn"})
            for (const char* own : {"", "warn", "enforce"}) {
                const std::string text = std::string("mode = \"") + top + "\"; scope = \"routes\";\n" + R"(
                    ip_ranges = (
                      { name = "net"; cidr = "0.0.0.0/0"; priority = 1; allow = [ "external-external" ];
                        require_auth = [ "external-external" ]; },
                      { name = "blocked"; cidr = "192.0.2.0/24"; priority = 2; allow = [ "local-local" ]; },
                      { name = "tls"; cidr = "198.51.100.0/24"; priority = 2; allow = [ "external-external" ];
                        require_tls_for_auth = true; } );
                    routes = ( { domain = ")" + pattern + R"("; deliver_to = "listed";
                                 addresses = [ "listed@far.test" ]; )" +
                                         (*own != '\0' ? std::string("mode = \"") + own + "\"; " : "") + "} );";
                const auto p = policy_from(text);
                const bool route_warns = *own != '\0' ? std::string(own) == "warn" : std::string(top) == "warn";
                const bool ranges_warn = std::string(top) == "warn" && route_warns;
                for (const Recipient& r : recipients) {
                    const Decision d = p->decide(Query{parse_ip_address(r.client), r.authenticated, "<a@else.test>", r.to});
                    const std::string what = std::string(pattern) + " top " + top + " route " + own + ": " + r.to + " from " +
                                             r.client;
                    BOOST_TEST(rule(d) == r.rule, what);
                    BOOST_TEST(d.warns() == (r.is_list_rule ? route_warns : ranges_warn), what);
                    BOOST_TEST(d.refuses() == !d.warns(), what);
                    ++checked;
                }
            }
    BOOST_TEST(checked == 3 * 2 * 3 * 4);
    // Without a route (scope "all") the ranges' rules follow the top-level mode alone.
    for (const char* top : {"enforce", "warn"}) {
        const auto p = policy_from(std::string("mode = \"") + top + "\"; scope = \"all\";\n" +
                                   "routes = ( { domain = \"far.test\"; mode = \"warn\"; } );");
        const Decision d = decide(*p, "203.0.113.5", "<a@else.test>", "<x@other.test>");
        BOOST_TEST(rule(d) == "auth-required");
        BOOST_TEST(d.warns() == (std::string(top) == "warn"), top);
    }
}

// A comment in MAIL FROM must not turn a local sender into an "external" one that the Internet
// range lets through without AUTH; a comment in RCPT TO must not slip past a listed route.
BOOST_AUTO_TEST_CASE(comments_never_change_the_verdict) {
    const auto p = policy_from(R"(
        scope = "all"; local_domains = [ "own.test" ];
        routes = ( { domain = "backup.test"; treat_recipient_as = "local"; deliver_to = "listed";
                     addresses = [ "alice@backup.test" ]; } );
    )");
    // Without a comment: a local sender from the Internet range needs AUTH (hMailServer's defaults).
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<ceo@own.test>", "<staff@own.test>")) == "auth-required");
    for (const char* from : {"<ceo@own.test(x)>", "<ceo@(x)own.test>", "<ceo@own(x).test>", "<ceo(x)@own.test>",
                             "<(x)ceo@own.test>", "ceo@own.test(x)", "<ceo@own.test)>"}) {
        const Decision d = decide(*p, "203.0.113.5", from, "<staff@own.test>");
        BOOST_TEST(rule(d) == "bad-sender", from);
        BOOST_TEST(d.rejects(), from);
        BOOST_TEST(std::string(reply_for(d.rule).code) == "501", from);
        BOOST_TEST(std::string(reply_for(d.rule).xcode) == "5.1.7", from);
    }
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<abuse@backup.test>")) == "not-listed");
    for (const char* to : {"<abuse@backup.test(x)>", "<abuse@(x)backup.test>", "<abuse@backup(x).test>",
                           "<abuse(x)@backup.test>", "<(alice@backup.test)abuse@backup.test>",
                           "<alice@backup.test(x)>"}) {
        const Decision d = decide(*p, "203.0.113.5", "<a@far.test>", to);
        BOOST_TEST(rule(d) == "bad-address", to);
        BOOST_TEST(std::string(reply_for(d.rule).code) == "501", to);
    }
    // Quoted parentheses are part of the local part for the MTAs as well: judged as usual.
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<\"abuse(x)\"@backup.test>")) == "not-listed");
}

// hMailServer checks its own domains before routes; routectl's maps keep them out of wildcard and
// "*" routes. A listed wildcard or "*" route must not refuse mail to this server's own domains.
BOOST_AUTO_TEST_CASE(own_domains_never_take_a_wildcard_or_catch_all_route) {
    const auto p = policy_from(R"(
        local_domains = [ "own.test", "sub.corp.test" ];
        routes = ( { domain = "*.corp.test"; deliver_to = "listed"; addresses = [ "x@a.corp.test" ]; },
                   { domain = "*"; deliver_to = "listed"; addresses = [ "y@far.test" ]; } );
    )");
    for (const char* to : {"<u@own.test>", "<u@sub.corp.test>", "<U@OWN.TEST.>"}) {
        const Decision d = decide(*p, "203.0.113.5", "<a@far.test>", to);
        BOOST_TEST(!d.rejects(), to << ": " << rule(d));
        BOOST_TEST(!d.route, to);
    }
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<u@b.corp.test>")) == "not-listed");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<u@else.test>")) == "not-listed");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<y@far.test>")) != "not-listed");
    // scope = "all": own domains are still judged by the IP ranges, as local recipients.
    const auto all = policy_from(R"(
        scope = "all"; local_domains = [ "own.test" ];
        ip_ranges = ( { name = "net"; cidr = "0.0.0.0/0"; priority = 1; allow = [ "external-local" ]; } );
        routes = ( { domain = "*"; deliver_to = "listed"; addresses = [ "y@far.test" ]; } );
    )");
    BOOST_TEST(rule(decide(*all, "203.0.113.5", "<a@far.test>", "<u@own.test>")) == "no-objection");
    BOOST_TEST((decide(*all, "203.0.113.5", "<a@far.test>", "<u@own.test>").delivery_class ==
                DeliveryClass::external_local));
}

// Postfix's percent hack, bang paths and dequoting (and Sendmail's) re-route an own-domain or
// bare address to the domain inside it: the milter must not judge it as a local recipient.
BOOST_AUTO_TEST_CASE(source_routed_own_addresses_are_refused) {
    const auto p = policy_from(R"(
        scope = "all"; local_domains = [ "own.test" ];
        ip_ranges = ( { name = "lan"; cidr = "0.0.0.0/0"; priority = 1; allow = [ "external-local" ]; } );
        routes = ( { domain = "backup.test"; treat_recipient_as = "local"; deliver_to = "listed";
                     addresses = [ "alice@backup.test" ]; } );
    )");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<u@own.test>")) == "no-objection");
    for (const char* to : {"<victim%far.test@own.test>", "<far.test!victim@own.test>", "<\"victim@far.test\"@own.test>",
                           "<\"victim%far.test\"@own.test>", "<victim%far.test>", "<far.test!victim>",
                           "<x%backup.test@own.test>"}) {
        const Decision d = decide(*p, "203.0.113.5", "<a@far.test>", to);
        BOOST_TEST(rule(d) == "routed-address", to);
        BOOST_TEST(d.rejects(), to);
    }
    // Other domains are relayed as written (the MTA rewrites only its own): judged as usual.
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<x%y@backup.test>")) == "not-listed");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<x%y@else.test>")) == "not-allowed");
    const auto routes = policy_from("local_domains = [ \"own.test\" ];");
    BOOST_TEST(rule(decide(*routes, "203.0.113.5", "<a@far.test>", "<v%far.test@own.test>")) == "routed-address");
}

// An address listed under a wildcard or "*" route for one of the own domains could never be used.
BOOST_AUTO_TEST_CASE(listed_address_in_an_own_domain_under_a_wildcard_is_an_error) {
    const PolicyResult r = load_policy_text(R"(
        local_domains = [ "sub.corp.test" ];
        routes = ( { domain = "*.corp.test"; deliver_to = "listed"; addresses = [ "x@a.corp.test", "y@sub.corp.test" ]; },
                   { domain = "*"; deliver_to = "listed"; addresses = [ "z@sub.corp.test" ]; } );
    )", "own.conf");
    BOOST_TEST(r.policy == nullptr);
    const std::string errors = testing::errors_text(r);
    BOOST_TEST(errors.find("own.conf:3: routes: address is listed under *.corp.test but sub.corp.test is one of "
                           "local_domains, which no wildcard or \"*\" route takes (\"y@sub.corp.test\")") != std::string::npos,
               errors);
    BOOST_TEST(errors.find("listed under * but sub.corp.test") != std::string::npos, errors);
    BOOST_TEST(errors.find("x@a.corp.test") == std::string::npos, errors);
}

// RFC 5321 4.5.1: <Postmaster> without a domain is accepted whatever the ranges say.
BOOST_AUTO_TEST_CASE(bare_postmaster_is_always_accepted) {
    const auto p = policy_from(R"(
        scope = "all"; local_domains = [ "own.test" ];
        ip_ranges = ( { name = "nothing"; cidr = "0.0.0.0/0"; priority = 1; allow = [ ]; } );
    )");
    for (const char* to : {"<Postmaster>", "<postmaster>", "<POSTMASTER>", "Postmaster", "<\"postmaster\">"}) {
        const Decision d = decide(*p, "203.0.113.5", "<a@far.test>", to);
        BOOST_TEST(rule(d) == "postmaster", to);
        BOOST_TEST(!d.rejects(), to);
    }
    // Even from a sender the milter cannot read (a report about it must get through).
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test(x)>", "<Postmaster>")) == "postmaster");
    // Only the bare form: postmaster@domain and other bare names are judged as usual.
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<postmaster@own.test>")) == "not-allowed");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<root>")) == "not-allowed");
    BOOST_TEST(rule(decide(*p, "203.0.113.5", "<a@far.test>", "<postmaster2>")) == "not-allowed");
}

// libmilter refuses replies near 1000 bytes: a long recipient must still get its 5xx, not a 4xx.
BOOST_AUTO_TEST_CASE(reply_text_quotes_long_addresses_shortened) {
    const std::string rcpt = "<" + std::string(1000, 'a') + "@backup.test>";
    char text[max_quoted_address + 128];
    format_reply_text(Rule::not_listed, rcpt, text, sizeof text);
    const std::string t(text);
    BOOST_TEST(t.size() < 300u);
    BOOST_TEST(t.rfind("<" + std::string(max_quoted_address, 'a') + "...>: Recipient not in route list.", 0) == 0u, t);
    format_reply_text(Rule::not_listed, "<short@backup.test>", text, sizeof text);
    BOOST_TEST(std::string(text) == "<short@backup.test>: Recipient not in route list.");
}

BOOST_AUTO_TEST_CASE(staged_decision_matches_whole_decision) {
    const auto p = policy_from(routes_conf);
    NormalizedAddress sender, rcpt;
    BOOST_REQUIRE(parse_address("<a@far.example>", sender) == AddressStatus::ok);
    const MessageFacts facts = p->message_facts(parse_ip_address("203.0.113.5"), false, false, &sender, 0);
    for (const char* to : {"<alice@backup.example>", "<carol@backup.example>", "<x@partner.example>", "<x@else.example>"}) {
        BOOST_REQUIRE(parse_address(to, rcpt) == AddressStatus::ok);
        BOOST_TEST(rule(p->decide_recipient(facts, rcpt)) == rule(decide(*p, "203.0.113.5", "<a@far.example>", to)), to);
    }
}

// routectl renders its files from the compiled config, which keeps every listed record; the
// image holds each listed address once, as a lookup key.
BOOST_AUTO_TEST_CASE(the_compiled_config_keeps_the_listed_records_the_image_holds) {
    const CompiledConfig compiled = compile_config_text(routes_conf, "policy-test.conf");
    BOOST_REQUIRE_MESSAGE(compiled.config.has_value(), testing::errors_text(compiled));
    const Config& c = *compiled.config;
    BOOST_TEST(c.listed.indexed());
    BOOST_TEST(c.listed.of_route(0).size() == 2u);
    BOOST_TEST(c.listed.text(c.listed.of_route(0)[1]) == "bob@backup.example");
    BOOST_TEST(c.listed.record_count() == 5u);
    const Policy::Opened image = policy_in_memory(c);
    BOOST_REQUIRE_MESSAGE(image.policy != nullptr, image.error);
    BOOST_TEST(image.policy->listed_address_count() == c.listed.record_count());
    BOOST_TEST(image.policy->route(0).record.listed_count == 2u);
    BOOST_TEST(rule(decide(*image.policy, "203.0.113.5", "<a@far.example>", "<bob@backup.example>")) == "no-objection");
    BOOST_TEST(rule(decide(*image.policy, "203.0.113.5", "<a@far.example>", "<carol@backup.example>")) == "not-listed");
}

BOOST_AUTO_TEST_CASE(compiled_policy_indexes_addresses) {
    const auto p = policy_from(routes_conf);
    BOOST_TEST(p->listed_address_count() == 5u);  // alice, bob, only, leser, boss
}

BOOST_AUTO_TEST_SUITE_END()
