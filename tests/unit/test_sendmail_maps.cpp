#define BOOST_TEST_DYN_LINK
#include "route_milter/config/config_loader.hpp"
#include "route_milter/sendmail/sendmail_maps.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <set>

using namespace route_milter;

namespace {

using testing::config_from;


SendmailMapsOptions options(const std::string& dir = "/etc/mail/routes") {
    SendmailMapsOptions o;
    o.output_dir = dir;
    return o;
}

const RenderedFile& file(const SendmailMapsResult& r, const std::string& name) {
    for (const RenderedFile& f : r.files)
        if (f.name == name) return f;
    BOOST_FAIL("no file " + name);
    throw;
}

// The lines without comments ("#" in maps, "dnl #" in the snippet).
std::string body(const SendmailMapsResult& r, const std::string& name) {
    std::string out;
    const std::string content = content_of(file(r, name));
    std::size_t start = 0;
    while (start < content.size()) {
        const std::size_t end = content.find('\n', start);
        const std::string line = content.substr(start, end - start);
        if (!line.empty() && line.front() != '#' && line.rfind("dnl #", 0) != 0) out += line + "\n";
        start = end == std::string::npos ? content.size() : end + 1;
    }
    return out;
}

std::string errors_of(const SendmailMapsResult& r) { return testing::errors_text(r); }

const char* routes = R"(
    milter = { socket = "inet:8891@127.0.0.1"; };
    routes = (
      { domain = "Example.COM"; host = "MX1.example.com"; security = "starttls";
        treat_recipient_as = "local"; deliver_to = "listed"; addresses = [ "Bob@example.com", "alice@example.com" ];
        retries = 30; retry_minutes = 60; },
      { domain = "*.wild.test"; host = "[192.0.2.5]"; port = 2525; security = "starttls-required";
        treat_recipient_as = "local"; auth = { user = "relay"; password = "s3 cr:et"; }; },
      { domain = "all.test"; host = "127.0.0.1"; security = "none"; treat_recipient_as = "local"; retries = 2;
        retry_minutes = 5; },
      { domain = "mx.test"; security = "starttls-required"; },
      { domain = "v6.test"; host = "[2001:DB8::1]"; security = "none"; },
      { domain = "*"; host = "smarthost.test"; port = 587; }
    );
)";

}  // namespace

BOOST_AUTO_TEST_SUITE(sendmail_maps)

BOOST_AUTO_TEST_CASE(maps_are_sorted_and_complete) {
    const Config c = config_from(routes);
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "mailertable") ==
               ".\troute_esmtp_587:[smarthost.test]\n"
               ".wild.test\troute_esmtp_2525:[192.0.2.5]\n"
               "all.test\tesmtp:[127.0.0.1]\n"
               "example.com\tesmtp:[mx1.example.com]\n"
               "mx.test\tesmtp:mx.test\n"  // no host: MX delivery, not the "*" smarthost
               "v6.test\tesmtp:[IPv6:2001:db8::1]\n");
    BOOST_TEST(body(r, "access") ==
               "QGRP:.all.test\tSKIP\n"
               "QGRP:.example.com\tSKIP\n"
               "QGRP:.mx.test\tSKIP\n"
               "QGRP:.v6.test\tSKIP\n"
               "QGRP:.wild.test\troute__wild_test\n"
               "QGRP:all.test\troute_all_test\n"
               "QGRP:example.com\troute_example_com\n"
               "QGRP:mx.test\troute_mx_test\n"
               "QGRP:v6.test\troute_v6_test\n"
               "TLS_Rcpt:.mx.test\tSKIP\n"
               "TLS_Rcpt:mx.test\tENCR:112\n"
               "TLS_Srv:192.0.2.5\tENCR:112\n"
               "To:.all.test\tSKIP\n"
               "To:.wild.test\tRELAY\n"
               "To:alice@example.com\tRELAY\n"
               "To:all.test\tRELAY\n"
               "To:bob@example.com\tRELAY\n"
               "Try_TLS:127.0.0.1\tNO\n"
               "Try_TLS:IPv6:2001:db8::1\tNO\n"
               "Try_TLS:mx1.example.com\tYES\n"  // by name: no "NO" for its address may apply
               "Try_TLS:smarthost.test\tYES\n");  // security unset: Sendmail's own STARTTLS
    BOOST_TEST(body(r, "authinfo") == "AuthInfo:192.0.2.5\t\"U:relay\" \"P=czMgY3I6ZXQ=\" \"M:PLAIN LOGIN\"\n");
    BOOST_TEST(file(r, "authinfo").mode == 0600u);
    BOOST_TEST(file(r, "mailertable").compile_map);
    BOOST_TEST(file(r, "access").compile_map);
    BOOST_TEST(file(r, "authinfo").compile_map);
    BOOST_TEST(!file(r, "sendmail.mc.snippet").compile_map);
    for (const RenderedFile& f : r.files)  // the password is nowhere in clear text
        BOOST_TEST(content_of(f).find("s3 cr:et") == std::string::npos, f.name);
}

BOOST_AUTO_TEST_CASE(mc_snippet_wires_it_all_in) {
    const Config c = config_from(routes);
    SendmailMapsOptions o = options();
    o.queue_dir = "/var/spool/mqueue";
    const SendmailMapsResult r = render_sendmail_maps(c, o);
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "sendmail.mc.snippet") ==
               "define(`confTO_QUEUERETURN', `7200m')dnl\n"
               "FEATURE(`mailertable', `hash /etc/mail/routes/mailertable')dnl\n"
               "FEATURE(`access_db', `hash -T<TMPF> /etc/mail/routes/access', `skip', `lookupdotdomain', "
               "`relaytofulladdress')dnl\n"
               "FEATURE(`authinfo', `hash /etc/mail/routes/authinfo')dnl\n"
               "FEATURE(`queuegroup', `route___all')dnl\n"
               "QUEUE_GROUP(`route_example_com', `P=/var/spool/mqueue/route_example_com, I=60m')dnl\n"
               "QUEUE_GROUP(`route__wild_test', `P=/var/spool/mqueue/route__wild_test, I=60m')dnl\n"
               "QUEUE_GROUP(`route_all_test', `P=/var/spool/mqueue/route_all_test, I=5m')dnl\n"
               "QUEUE_GROUP(`route_mx_test', `P=/var/spool/mqueue/route_mx_test, I=60m')dnl\n"
               "QUEUE_GROUP(`route_v6_test', `P=/var/spool/mqueue/route_v6_test, I=60m')dnl\n"
               "QUEUE_GROUP(`route___all', `P=/var/spool/mqueue/route___all, I=60m')dnl\n"
               "INPUT_MAIL_FILTER(`route-milter', `S=inet:8891@127.0.0.1, F=T, T=S:30s;R:30s;E:1m')dnl\n"
               "MAILER_DEFINITIONS\n"
               "Mroute_esmtp_587,\tP=[IPC], F=mDFMuXa, S=EnvFromSMTP/HdrFromSMTP, R=EnvToSMTP, E=\\r\\n, L=990,\n"
               "\t\tT=DNS/RFC822/SMTP,\n"
               "\t\tA=TCP $h 587\n"
               "Mroute_esmtp_2525,\tP=[IPC], F=mDFMuXa, S=EnvFromSMTP/HdrFromSMTP, R=EnvToSMTP, E=\\r\\n, L=990,\n"
               "\t\tT=DNS/RFC822/SMTP,\n"
               "\t\tA=TCP $h 2525\n"
               "divert(0)dnl\n"
               "LOCAL_RULESETS\n"
               "Scheck_etrn\n"
               "R@ $+\t\t\t$: $1\t\t\t\tETRN @domain is ETRN domain\n"
               "R$+\t\t\t$: < $(access ETRN:$1 $: ? $) > $1\n"
               "R< OK > $*\t\t$@ OK\n"
               "R< $* > $*\t\t$#error $@ 4.7.1 $: \"459 ETRN not allowed for \" $2 \" (no ETRN route)\"\n"
               "divert(0)dnl\n");
    BOOST_REQUIRE(r.queue_groups.size() == 6u);
    BOOST_TEST(r.queue_groups[0].directory == "/var/spool/mqueue/route_example_com");
    BOOST_TEST(r.queue_groups[5].route->pattern.text() == "*");
    // The directories are listed for the administrator, in the snippet's comments too.
    BOOST_TEST(content_of(file(r, "sendmail.mc.snippet")).find("dnl #   /var/spool/mqueue/route_v6_test\n") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(no_extra_mailer_when_every_route_uses_port_25) {
    const Config c = config_from(R"(routes = ( { domain = "a.test"; host = "mx.a.test"; } );)");
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    const std::string snippet = body(r, "sendmail.mc.snippet");
    BOOST_TEST(snippet.find("MAILER_DEFINITIONS") == std::string::npos);
    BOOST_TEST(snippet.find("FEATURE(`queuegroup')dnl\n") != std::string::npos);  // no "*" route: no default group
    BOOST_TEST(snippet.find("S=unix:/var/spool/postfix/route-milter/route-milter.sock,") != std::string::npos);
    BOOST_TEST(body(r, "authinfo").empty());
}

BOOST_AUTO_TEST_CASE(output_is_deterministic) {
    const Config c = config_from(routes);
    const SendmailMapsResult a = render_sendmail_maps(c, options());
    const SendmailMapsResult b = render_sendmail_maps(c, options());
    BOOST_REQUIRE(a.files.size() == b.files.size());
    for (std::size_t i = 0; i < a.files.size(); ++i) BOOST_TEST(content_of(a.files[i]) == content_of(b.files[i]));
}

BOOST_AUTO_TEST_CASE(long_schedules_extend_the_queue_lifetime) {
    const Config c = config_from("routes = ( { domain = \"slow.test\"; retries = 200; retry_minutes = 60; } );");
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_TEST(body(r, "sendmail.mc.snippet").find("define(`confTO_QUEUERETURN', `13440m')dnl\n") != std::string::npos);
}

// Sendmail's access keys cover subdomains; routes do not: each exact entry gets a ".domain"
// entry saying what the subdomains' own route says.
BOOST_AUTO_TEST_CASE(local_domains_and_hostless_routes_never_go_to_the_catch_all_host) {
    const Config c = config_from(R"(
        local_domains = [ "own.test", "sub.wild.test", "free.test" ];
        routes = (
          { domain = "mxonly.test"; },
          { domain = "*.wild.test"; host = "wild.relay.test"; },
          { domain = "*"; host = "relay.isp.test"; port = 587; } );)");
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "mailertable") ==
               ".\troute_esmtp_587:[relay.isp.test]\n"
               ".wild.test\tesmtp:[wild.relay.test]\n"
               "free.test\tesmtp:free.test\n"
               "mxonly.test\tesmtp:mxonly.test\n"
               "own.test\tesmtp:own.test\n"
               "sub.wild.test\tesmtp:sub.wild.test\n");
    // without a catch-all there is nothing to keep them from
    const SendmailMapsResult plain =
        render_sendmail_maps(config_from("local_domains = [ \"own.test\" ];\nroutes = ( { domain = \"a.test\"; host = \"mx.test\"; } );"), options());
    BOOST_TEST(body(plain, "mailertable") == "a.test\tesmtp:[mx.test]\n");
}

BOOST_AUTO_TEST_CASE(subdomains_get_what_their_own_route_says) {
    const Config c = config_from(R"(routes = (
        { domain = "*.test"; treat_recipient_as = "local"; },
        { domain = "b.test"; treat_recipient_as = "local"; },
        { domain = "c.test"; },
        { domain = "*.x.test"; },
        { domain = "y.x.test"; treat_recipient_as = "local"; },
        { domain = "listed.test"; treat_recipient_as = "local"; deliver_to = "listed";
          addresses = [ "a@listed.test" ]; } );)");
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    const std::string access = body(r, "access");
    const auto has = [&](const std::string& line) {
        BOOST_TEST(access.find(line + "\n") != std::string::npos, line << "\n" << access);
    };
    has("To:.test\tRELAY");
    has("To:b.test\tRELAY");
    has("To:.b.test\tRELAY");      // a.b.test: route *.test, relayed
    has("To:y.x.test\tRELAY");
    has("To:.y.x.test\tSKIP");     // a.y.x.test: route *.x.test, not relayed
    has("To:a@listed.test\tRELAY");
    // Routes more specific than the local *.test that relay less get entries of their own
    // (SKIP), else "To:.test RELAY" would relay other@listed.test and x@c.test.
    has("To:listed.test\tSKIP");
    has("To:.listed.test\tRELAY");  // a.listed.test: route *.test, relayed
    has("To:c.test\tSKIP");
    has("To:.c.test\tRELAY");
    has("To:.x.test\tSKIP");       // *.x.test is not local
    BOOST_TEST(access.find("To:a.test") == std::string::npos);
    has("QGRP:.test\troute__test");
    has("QGRP:.b.test\troute__test");
    has("QGRP:.x.test\troute__x_test");
    has("QGRP:.y.x.test\troute__x_test");
    has("QGRP:.c.test\troute__test");
}

BOOST_AUTO_TEST_CASE(hostless_routes_under_a_wildcard_host_keep_mx_delivery) {
    const Config c = config_from(R"(routes = (
        { domain = "*.test"; host = "relay.example"; },
        { domain = "*.mx.test"; },
        { domain = "plain.test"; },
        { domain = "other.example"; } );)");
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "mailertable") ==
               ".mx.test\tesmtp:%1.mx.test\n"
               ".test\tesmtp:[relay.example]\n"
               "plain.test\tesmtp:plain.test\n");
}

BOOST_AUTO_TEST_CASE(queue_group_names) {
    const auto group_name = [](const std::string& pattern) {
        return sendmail_queue_group_name(std::get<RoutePattern>(RoutePattern::parse(pattern)));
    };
    BOOST_TEST(group_name("example.com") == "route_example_com");
    BOOST_TEST(group_name("*.example.com") == "route__example_com");
    BOOST_TEST(group_name("*") == "route___all");
    BOOST_TEST(group_name("a-b.test") == "route_a__b_test");
    BOOST_TEST(group_name("xn--bcher-kva.example") == "route_xn____bcher__kva_example");
    // distinct routes, distinct groups
    std::set<std::string> names;
    for (const char* d : {"a.b.test", "a-b.test", "*.a.b.test", "*.a-b.test", "a.b-test", "*", "all", "*.all"})
        BOOST_TEST(names.insert(group_name(d)).second, d);
    const std::string long_domain = std::string(60, 'a') + "." + std::string(60, 'b') + ".test";
    const std::string name = group_name(long_domain);
    BOOST_TEST(name.size() == 64u);
    BOOST_TEST(name != group_name(std::string(60, 'a') + "." + std::string(60, 'c') + ".test"));
    BOOST_TEST(name == group_name(long_domain));
}

BOOST_AUTO_TEST_CASE(mailers_and_milter_addresses) {
    BOOST_TEST(sendmail_mailer_for_port(25) == "esmtp");
    BOOST_TEST(sendmail_mailer_for_port(2525) == "route_esmtp_2525");
    BOOST_TEST(sendmail_milter_address(testing::milter_socket("inet:8891@127.0.0.1")) == "inet:8891@127.0.0.1");
    BOOST_TEST(sendmail_milter_address(testing::milter_socket("unix:/run/route-milter/route-milter.sock")) ==
               "unix:/run/route-milter/route-milter.sock");
    BOOST_TEST(sendmail_milter_address(testing::milter_socket("local:/x.sock")) == "unix:/x.sock");
}

BOOST_AUTO_TEST_CASE(credentials_that_need_quoting_are_base64) {
    const Config c = config_from(R"(routes = (
        { domain = "a.test"; host = "mx.a.test"; auth = { user = "plain.user@a.test"; password = "Secret-1"; }; },
        { domain = "b.test"; host = "mx.b.test"; auth = { user = "x:y"; password = "p\"q%1$"; }; } );)");
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "authinfo") ==
               "AuthInfo:mx.a.test\t\"U:plain.user@a.test\" \"P:Secret-1\" \"M:PLAIN LOGIN\"\n"
               "AuthInfo:mx.b.test\t\"U=eDp5\" \"P=cCJxJTEk\" \"M:PLAIN LOGIN\"\n");
}

BOOST_AUTO_TEST_CASE(what_sendmail_cannot_express_is_an_error) {
    struct Case {
        const char* text;
        const char* expected;
    };
    const Case cases[] = {
        {"routes = ( { domain = \"a.test\"; host = \"mx.test\"; security = \"tls\"; } );",
         "maps.conf:1: routes: a.test: security \"tls\" (SMTPS, TLS from the first byte) cannot be expressed: this "
         "Sendmail (8.17) has no client-side SMTPS"},
        {"routes = ( { domain = \"a.test\"; security = \"tls\"; } );", "no client-side SMTPS"},
        {"routes = ( { domain = \"*\"; security = \"starttls-required\"; } );",
         "routes: *: security \"starttls-required\" on \"*\" without host cannot be expressed"},
        {"routes = ( { domain = \"a.test\"; host = \"mx.test\"; auth = { user = \"u\"; password = \"pw-first\"; }; },\n"
         " { domain = \"b.test\"; host = \"mx.test\"; port = 587; auth = { user = \"u\"; password = \"pw-second\"; }; } );",
         "maps.conf:2: routes: b.test: SMTP AUTH for host mx.test differs from the route at line 1"},
        {"routes = ( { domain = \"a.test\"; host = \"mx.test\"; auth = { user = \"u\"; password = \"pw-first\"; }; },\n"
         " { domain = \"b.test\"; host = \"mx.test\"; port = 587; } );",
         "maps.conf:2: routes: b.test: SMTP AUTH for host mx.test differs from the route at line 1 (a.test, with "
         "auth; b.test without)"},
        {"routes = ( { domain = \"a.test\"; host = \"mx.test\"; security = \"none\"; },\n"
         " { domain = \"b.test\"; host = \"mx.test\"; port = 587; security = \"starttls-required\"; } );",
         "maps.conf:2: routes: b.test: security \"starttls-required\" for host mx.test differs from the route at line "
         "1 (\"none\")"},
        {"routes = ( { domain = \"a.test\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
         " addresses = [ \"\\\"john doe\\\"@a.test\" ]; } );",
         "maps.conf:2: routes: a.test: address with a blank cannot be a Sendmail map key"},
        {"routes = ( { domain = \"a.test\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
         " addresses = [ \"ok@a.test\",\n \"\\\"x@y\\\"@a.test\" ]; } );",
         "maps.conf:3: routes: a.test: address cannot be a Sendmail access map key: its local part needs quoting, and "
         "Sendmail looks To: entries up with the quoting the client used (\"x@y@a.test\")"},
    };
    for (const Case& c : cases) {
        const SendmailMapsResult r = render_sendmail_maps(config_from(c.text), options());
        BOOST_TEST(r.files.empty());
        BOOST_TEST(errors_of(r).find(c.expected) != std::string::npos, c.text << "\n" << errors_of(r));
        BOOST_TEST(errors_of(r).find("pw-first") == std::string::npos);
        BOOST_TEST(errors_of(r).find("pw-second") == std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(several_hosts_are_tried_in_order_each_with_auth_and_tls) {
    const Config c = config_from(R"(routes = (
        { domain = "a.test"; host = [ "mx2.a.test", "[192.0.2.7]", "mx1.a.test" ]; port = 2525;
          security = "starttls-required"; auth = { user = "relay"; password = "Secret-1"; }; },
        { domain = "b.test"; host = [ "[192.0.2.8]", "[2001:db8::8]" ]; security = "none"; } );)");
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    // the order of the config, not sorted: Sendmail tries ':'-separated hosts in order
    BOOST_TEST(body(r, "mailertable") ==
               "a.test\troute_esmtp_2525:[mx2.a.test]:[192.0.2.7]:[mx1.a.test]\n"
               "b.test\tesmtp:[192.0.2.8]:[IPv6:2001:db8::8]\n");
    BOOST_TEST(body(r, "authinfo") ==
               "AuthInfo:192.0.2.7\t\"U:relay\" \"P:Secret-1\" \"M:PLAIN LOGIN\"\n"
               "AuthInfo:mx1.a.test\t\"U:relay\" \"P:Secret-1\" \"M:PLAIN LOGIN\"\n"
               "AuthInfo:mx2.a.test\t\"U:relay\" \"P:Secret-1\" \"M:PLAIN LOGIN\"\n");
    const std::string access = body(r, "access");
    for (const char* line : {"TLS_Srv:192.0.2.7\tENCR:112\n", "TLS_Srv:mx1.a.test\tENCR:112\n",
                             "TLS_Srv:mx2.a.test\tENCR:112\n", "Try_TLS:mx1.a.test\tYES\n", "Try_TLS:mx2.a.test\tYES\n",
                             "Try_TLS:192.0.2.8\tNO\n", "Try_TLS:IPv6:2001:db8::8\tNO\n"})
        BOOST_TEST(access.find(line) != std::string::npos, line << "\n" << access);
    BOOST_TEST(access.find("Try_TLS:192.0.2.7") == std::string::npos);  // an address: nothing to shadow
}

BOOST_AUTO_TEST_CASE(per_host_conflicts_are_checked_for_every_host_of_a_list) {
    struct Case {
        const char* text;
        const char* expected;
    };
    const Case cases[] = {
        {"routes = ( { domain = \"a.test\"; host = [ \"mx1.test\", \"mx2.test\" ];\n"
         "   auth = { user = \"u\"; password = \"pw-first\"; }; },\n"
         " { domain = \"b.test\"; host = [ \"mx3.test\", \"mx2.test\" ]; port = 587; } );",
         "maps.conf:3: routes: b.test: SMTP AUTH for host mx2.test differs from the route at line 1"},
        {"routes = ( { domain = \"a.test\"; host = [ \"[192.0.2.1]\", \"mx2.test\" ]; },\n"
         " { domain = \"b.test\"; host = \"[192.0.2.1]\"; port = 587; security = \"starttls\"; } );",
         "maps.conf:2: routes: b.test: security \"starttls\" for host 192.0.2.1 differs from the route at line 1"},
        {"routes = ( { domain = \"a.test\"; host = [ \"mx1.test\", \"mx2.test\" ]; security = \"starttls-required\"; },\n"
         " { domain = \"b.test\"; host = \"mx2.test\"; port = 587; security = \"starttls-required\"; tls_verify = true; } );",
         "maps.conf:2: routes: b.test: tls_verify = true for host mx2.test differs from the route at line 1 (a.test)"},
    };
    for (const Case& c : cases) {
        const SendmailMapsResult r = render_sendmail_maps(config_from(c.text), options());
        BOOST_TEST(r.files.empty());
        BOOST_TEST(errors_of(r).find(c.expected) != std::string::npos, c.text << "\n" << errors_of(r));
        BOOST_TEST(errors_of(r).find("pw-first") == std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(etrn_routes_get_an_expensive_mailer_a_held_queue_group_and_etrn_access) {
    const Config c = config_from(R"(routes = (
        { domain = "site.test"; host = [ "[192.0.2.9]", "mx.site.test" ]; port = 2526; etrn = true;
          treat_recipient_as = "local"; },
        { domain = "mx-site.test"; etrn = true; retries = 3; retry_minutes = 10; },
        { domain = "now.test"; host = "[192.0.2.10]"; port = 2526; } );)");
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "mailertable") ==
               "mx-site.test\troute_etrn_esmtp_25:mx-site.test\n"  // MX delivery, but held
               "now.test\troute_esmtp_2526:[192.0.2.10]\n"
               "site.test\troute_etrn_esmtp_2526:[192.0.2.9]:[mx.site.test]\n");
    const std::string access = body(r, "access");
    BOOST_TEST(access.find("ETRN:site.test\tOK\n") != std::string::npos, access);
    BOOST_TEST(access.find("ETRN:mx-site.test\tOK\n") != std::string::npos, access);
    BOOST_TEST(access.find("ETRN:now.test") == std::string::npos, access);
    BOOST_TEST(access.find("ETRN:.") == std::string::npos, access);  // ETRN names one domain
    const std::string snippet = body(r, "sendmail.mc.snippet");
    const auto has = [&](const std::string& text) {
        BOOST_TEST(snippet.find(text) != std::string::npos, text << "\n" << snippet);
    };
    has("define(`confCON_EXPENSIVE', `True')dnl\n");
    // held: periodic queue runs reach the group once per queue lifetime only
    has("define(`confTO_QUEUERETURN', `7200m')dnl\n");
    has("QUEUE_GROUP(`route_site_test', `P=/var/spool/mqueue/route_site_test, I=7200m')dnl\n");
    has("QUEUE_GROUP(`route_mx__site_test', `P=/var/spool/mqueue/route_mx__site_test, I=7200m')dnl\n");
    has("QUEUE_GROUP(`route_now_test', `P=/var/spool/mqueue/route_now_test, I=60m')dnl\n");
    has("Mroute_esmtp_2526,\tP=[IPC], F=mDFMuXa, S=");
    has("Mroute_etrn_esmtp_2526,\tP=[IPC], F=mDFMuXae, S=EnvFromSMTP/HdrFromSMTP, R=EnvToSMTP, E=\\r\\n, L=990,\n"
        "\t\tT=DNS/RFC822/SMTP,\n\t\tA=TCP $h 2526\n");
    has("Mroute_etrn_esmtp_25,\tP=[IPC], F=mDFMuXae,");
    has("Scheck_etrn\n");
    BOOST_TEST(content_of(file(r, "sendmail.mc.snippet")).find("dnl # route site.test (line 2): held until ETRN\n") !=
               std::string::npos);
    BOOST_TEST(sendmail_etrn_mailer_for_port(25) == "route_etrn_esmtp_25");

    // Without ETRN routes: nothing is held, and check_etrn refuses every ETRN.
    const SendmailMapsResult plain = render_sendmail_maps(config_from(R"(routes = ( { domain = "a.test"; } );)"), options());
    BOOST_REQUIRE_MESSAGE(plain.errors.empty(), errors_of(plain));
    BOOST_TEST(body(plain, "sendmail.mc.snippet").find("confCON_EXPENSIVE") == std::string::npos);
    BOOST_TEST(body(plain, "sendmail.mc.snippet").find("Scheck_etrn\n") != std::string::npos);
    BOOST_TEST(body(plain, "access").find("ETRN:") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(tls_verify_asks_for_a_verified_certificate_naming_the_host) {
    const Config c = config_from(R"(routes = (
        { domain = "a.test"; host = [ "mx1.a.test", "mx2.a.test" ]; security = "starttls-required"; tls_verify = true; },
        { domain = "b.test"; security = "starttls-required"; tls_verify = true; },
        { domain = "c.test"; host = "mx.c.test"; security = "starttls-required"; } );)");
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    const std::string access = body(r, "access");
    for (const char* line : {"TLS_Srv:mx1.a.test\tVERIFY:112+CN\n", "TLS_Srv:mx2.a.test\tVERIFY:112+CN\n",
                             "TLS_Rcpt:b.test\tVERIFY:112+CN\n", "TLS_Srv:mx.c.test\tENCR:112\n"})
        BOOST_TEST(access.find(line) != std::string::npos, line << "\n" << access);
    const std::string snippet = content_of(file(r, "sendmail.mc.snippet"));
    BOOST_TEST(snippet.find("FEATURE(`check_cert_altnames')dnl\n") != std::string::npos);
    BOOST_TEST(snippet.find("confCACERT_PATH") != std::string::npos);  // where the CAs come from is said
    const SendmailMapsResult plain =
        render_sendmail_maps(config_from(R"(routes = ( { domain = "c.test"; host = "mx.c.test"; security = "starttls-required"; } );)"),
                             options());
    BOOST_TEST(content_of(file(plain, "sendmail.mc.snippet")).find("check_cert_altnames") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(paths_that_cannot_go_into_sendmail_mc_are_errors) {
    const Config c = config_from(R"(routes = ( { domain = "a.test"; host = "mx.a.test"; } );)");
    for (const char* dir : {"relative/dir", "/with space", "/quote'd", "/comma,dir"}) {
        const SendmailMapsResult r = render_sendmail_maps(c, options(dir));
        BOOST_TEST(r.files.empty(), dir);
        BOOST_TEST(errors_of(r).find("output directory cannot be named in sendmail.mc") != std::string::npos, dir);
    }
    SendmailMapsOptions o = options();
    o.queue_dir = "/var/spool/mqueue dir";
    BOOST_TEST(errors_of(render_sendmail_maps(c, o)).find("queue directory cannot be named") != std::string::npos);
    o = options();
    o.milter_socket = "inet:8891@127.0.0.1, F=R";
    BOOST_TEST(errors_of(render_sendmail_maps(c, o)).find("milter socket cannot be named") != std::string::npos);
}

// A route in warn mode: Sendmail relays its whole domain (the milter alone rehearses the list);
// in enforce mode only the listed addresses. The route's own mode wins over the top-level one.
BOOST_AUTO_TEST_CASE(warn_routes_relay_their_whole_domain_until_they_enforce) {
    const auto access_of = [](const std::string& top, const std::string& own_a, const std::string& own_wild) {
        const Config c = config_from(top + R"(
            routes = (
              { domain = "a.test"; treat_recipient_as = "local"; deliver_to = "listed";)" + own_a + R"(
                addresses = [ "alice@a.test", "bob@a.test" ]; },
              { domain = "*.w.test"; treat_recipient_as = "local"; deliver_to = "listed";)" + own_wild + R"(
                addresses = [ "carol@x.w.test" ]; },
              { domain = "ext.test"; deliver_to = "listed"; addresses = [ "dave@ext.test" ]; }
            );)");
        const SendmailMapsResult r = render_sendmail_maps(c, options());
        BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
        std::string to;  // the To: lines only
        const std::string b = body(r, "access");
        for (std::size_t start = 0, end; start < b.size(); start = end + 1) {
            end = b.find('\n', start);
            if (b.compare(start, 3, "To:") == 0) to += b.substr(start, end - start + 1);
        }
        return std::make_pair(to, content_of(file(r, "access")));
    };
    const std::string listed_only =
        "To:alice@a.test\tRELAY\nTo:bob@a.test\tRELAY\nTo:carol@x.w.test\tRELAY\n";
    const std::string all_relayed = "To:.a.test\tSKIP\nTo:.w.test\tRELAY\nTo:a.test\tRELAY\n";
    const std::string rehearsal_note = "routes in warn mode relay their whole domain";

    const auto [enforced, enforced_text] = access_of("", "", "");
    BOOST_TEST(enforced == listed_only);
    BOOST_TEST(enforced_text.find(rehearsal_note) == std::string::npos);

    const auto [top_warn, top_warn_text] = access_of("mode = \"warn\";", "", "");
    BOOST_TEST(top_warn == all_relayed);  // ext.test is not local: Sendmail never relays it by the map
    BOOST_TEST(top_warn_text.find(rehearsal_note) != std::string::npos);

    BOOST_TEST(access_of("", " mode = \"warn\";", " mode = \"warn\";").first == all_relayed);
    BOOST_TEST(access_of("", " mode = \"warn\";", "").first ==
               "To:.a.test\tSKIP\nTo:a.test\tRELAY\nTo:carol@x.w.test\tRELAY\n");
    // A route that enforces under a top-level warn keeps its list.
    BOOST_TEST(access_of("mode = \"warn\";", " mode = \"enforce\";", "").first ==
               "To:.w.test\tRELAY\nTo:alice@a.test\tRELAY\nTo:bob@a.test\tRELAY\n");
    BOOST_TEST(access_of("mode = \"warn\";", " mode = \"enforce\";", " mode = \"enforce\";").first == listed_only);
}

// In warn mode no address becomes a key, so none that Sendmail could not look up is an error.
BOOST_AUTO_TEST_CASE(a_warn_route_needs_no_address_sendmail_can_look_up) {
    const std::string routes = R"(
        routes = ( { domain = "q.test"; treat_recipient_as = "local"; deliver_to = "listed"; MODE
                     addresses = [ "ok@q.test", "\"x y\"@q.test" ]; } );)";
    const auto with = [&](const std::string& mode) {
        std::string text = routes;
        text.replace(text.find("MODE"), 4, mode);
        return render_sendmail_maps(config_from(text), options());
    };
    BOOST_TEST(errors_of(with("mode = \"enforce\";")).find("address with a blank") != std::string::npos);
    const SendmailMapsResult warn = with("mode = \"warn\";");
    BOOST_REQUIRE_MESSAGE(warn.errors.empty(), errors_of(warn));
    BOOST_TEST(body(warn, "access").find("To:q.test\tRELAY\n") != std::string::npos);
    BOOST_TEST(body(warn, "access").find("@q.test") == std::string::npos);
}


namespace {

// What Sendmail finds for `domain` in a map (keys without their tag): with lookupdotdomain the
// access map tries "a.b.test", ".b.test", "b.test", ".test", "test"; the mailertable tries
// "a.b.test", ".b.test", ".test", ".". "" when nothing is found; SKIP stops the search.
std::string sendmail_lookup(const std::map<std::string, std::string>& map, const std::string& tag,
                            const std::string& domain, bool access) {
    const auto find = [&](const std::string& key) -> const std::string* {
        const auto it = map.find(tag + key);
        return it == map.end() ? nullptr : &it->second;
    };
    if (const std::string* v = find(domain)) return *v;
    for (std::size_t dot = domain.find('.'); dot != std::string::npos; dot = domain.find('.', dot + 1)) {
        if (const std::string* v = find(domain.substr(dot))) return *v;
        if (access)
            if (const std::string* v = find(domain.substr(dot + 1))) return *v;
    }
    if (!access)
        if (const std::string* v = find(".")) return *v;
    return "";
}

std::map<std::string, std::string> map_of(const std::string& body) {
    std::map<std::string, std::string> out;
    std::size_t start = 0;
    while (start < body.size()) {
        const std::size_t end = body.find('\n', start);
        const std::string line = body.substr(start, end - start);
        const std::size_t tab = line.find('\t');
        BOOST_REQUIRE(out.emplace(line.substr(0, tab), line.substr(tab + 1)).second);
        start = end + 1;
    }
    return out;
}

// The milter's route for a domain, by brute force: exact, then the longest wildcard, then "*".
const RouteConfig* oracle_route(const Config& c, const std::string& domain) {
    const RouteConfig* best = nullptr;
    for (const RouteConfig& r : c.routes)
        if (r.pattern.matches(domain) && (best == nullptr || r.pattern.specificity() > best->pattern.specificity()))
            best = &r;
    return best;
}

}  // namespace

// Nested wildcards and exact routes under them, drawn from a fixed pseudo-random sequence: for
// every route domain and subdomains of each, what Sendmail looks up in the generated access map
// and mailertable must be what the milter's route for that domain says.
BOOST_AUTO_TEST_CASE(nested_routes_get_what_their_own_route_says_in_every_map) {
    std::uint32_t seed = 12345;
    const auto next = [&seed](std::uint32_t n) {
        seed = seed * 1103515245u + 12345u;
        return (seed >> 16) % n;
    };
    const std::vector<std::string> labels = {"a", "b", "c"};
    for (int round = 0; round < 40; ++round) {
        // Domains up to three labels deep below "test" (and "test" itself).
        std::vector<std::string> bases = {"test"};
        for (std::size_t i = 0; i < bases.size(); ++i)
            if (std::count(bases[i].begin(), bases[i].end(), '.') < 3)
                for (const std::string& l : labels) bases.push_back(l + "." + bases[i]);
        std::string text = next(3) == 0 ? "mode = \"warn\";\nroutes = (\n" : "routes = (\n";
        int host = 0;
        const auto attributes = [&](bool exact, const std::string& base) {
            std::string a;
            if (next(3) == 0) a += " host = \"mx" + std::to_string(host++) + ".example\";";
            else if (next(3) == 0) a += " security = \"starttls-required\";";
            if (next(2) == 0) {
                a += " treat_recipient_as = \"local\";";
                if (next(2) == 0) a += " deliver_to = \"listed\"; addresses = [ \"u@" + std::string(exact ? "" : "x.") + base + "\" ];";
            }
            if (next(4) == 0) a += next(2) == 0 ? " mode = \"warn\";" : " mode = \"enforce\";";
            return a;
        };
        for (const std::string& base : bases) {
            if (next(3) == 0) text += "  { domain = \"" + base + "\";" + attributes(true, base) + " },\n";
            if (next(3) == 0) text += "  { domain = \"*." + base + "\";" + attributes(false, base) + " },\n";
        }
        if (next(2) == 0) text += "  { domain = \"*\"; host = \"smarthost.example\"; },\n";
        text += "  { domain = \"other.example\"; } );\n";
        const Config c = config_from(text);
        const SendmailMapsResult r = render_sendmail_maps(c, options());
        BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r) << text);
        const auto access = map_of(body(r, "access"));
        const auto mailertable = map_of(body(r, "mailertable"));

        std::vector<std::string> domains;
        for (const std::string& base : bases)
            for (const std::string_view prefix : {"", "x.", "y.x."}) domains.push_back(std::string(prefix) + base);
        for (const std::string& domain : domains) {
            const RouteConfig* route = oracle_route(c, domain);
            const bool exact_or_wildcard = route != nullptr && !route->pattern.is_catch_all();
            const std::string why = domain + " (route " + (route ? route->pattern.text() : "none") + ")\n" + text;
            const std::string relay = sendmail_lookup(access, "To:", domain, true);
            const bool relayed = exact_or_wildcard && route->treat_recipient_as == AddressClass::local &&
                                 (route->deliver_to == DeliverTo::all || effective_mode(c, route) == Mode::warn);
            BOOST_TEST((relay == "RELAY") == relayed, "To: " << relay << " for " << why);
            const std::string group = sendmail_lookup(access, "QGRP:", domain, true);
            BOOST_TEST((group == "SKIP" ? "" : group) ==
                           (exact_or_wildcard ? sendmail_queue_group_name(route->pattern) : ""),
                       "QGRP: " << group << " for " << why);
            const std::string tls = sendmail_lookup(access, "TLS_Rcpt:", domain, true);
            const bool required = exact_or_wildcard && route->hosts.empty() &&
                                  route->security == Security::starttls_required;
            BOOST_TEST((tls == "ENCR:112") == required, "TLS_Rcpt: " << tls << " for " << why);
            // Mailertable: the route's host, else MX delivery ("esmtp:" + the domain, or nothing).
            std::string mailer = sendmail_lookup(mailertable, "", domain, false);
            if (const std::size_t p = mailer.find("%1"); p != std::string::npos) {
                const std::string parent = mailer.substr(p + 3);  // after "%1."
                mailer = mailer.substr(0, p) + domain.substr(0, domain.size() - parent.size() - 1) + "." + parent;
            }
            const std::string expected =
                route != nullptr && !route->hosts.empty() ? "esmtp:[" + route->hosts.front() + "]" : "esmtp:" + domain;
            BOOST_TEST((mailer.empty() && (route == nullptr || route->hosts.empty()) ? expected : mailer) == expected,
                       "mailertable: " << mailer << " for " << why);
        }
    }
}

// A password never crosses the wire in clear: AUTH without security requires STARTTLS.
BOOST_AUTO_TEST_CASE(auth_without_security_requires_tls) {
    const Config c = config_from(R"(routes = (
        { domain = "a.test"; host = "relay.a.test"; port = 587; auth = { user = "u"; password = "p"; }; },
        { domain = "b.test"; host = "[192.0.2.9]"; } );)");
    const SendmailMapsResult r = render_sendmail_maps(c, options());
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    const std::string access = body(r, "access");
    BOOST_TEST(access.find("TLS_Srv:relay.a.test\tENCR:112\n") != std::string::npos, access);
    BOOST_TEST(access.find("Try_TLS:relay.a.test\tYES\n") != std::string::npos, access);
    BOOST_TEST(access.find("192.0.2.9") == std::string::npos, access);  // Sendmail's own level
}

BOOST_AUTO_TEST_SUITE_END()
