// Issue 11 in the core and the config: host lists, ETRN, tls_verify, range expiry and
// "require TLS for AUTH"; and how Postfix's maps carry them.
#define BOOST_TEST_DYN_LINK
#include "route_milter/config/config_loader.hpp"
#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/policy.hpp"
#include "route_milter/core/utc_time.hpp"
#include "route_milter/postfix/postfix_maps.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

using namespace route_milter;
using route_milter::testing::config_from;
using route_milter::testing::errors_text;

namespace {

std::string load_errors(const std::string& text) { return errors_text(load_config_text(text, "t.conf")); }

const RenderedFile& file(const PostfixMapsResult& r, const std::string& name) {
    for (const RenderedFile& f : r.files)
        if (f.name == name) return f;
    BOOST_FAIL("no file " + name);
    return r.files.front();
}

PostfixMapsResult render(const std::string& text, const std::string& version = "3.7.11") {
    return render_postfix_maps(config_from(text),
                               {"/m", "", version, version.empty() ? "postconf: not found" : "", PostfixTableType::hash});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(route_targets)

BOOST_AUTO_TEST_CASE(utc_timestamps) {
    BOOST_TEST(*parse_utc_timestamp("1970-01-01T00:00:00Z") == 0);
    BOOST_TEST(*parse_utc_timestamp("2027-03-01T00:00:00Z") == 1803859200);
    BOOST_TEST(*parse_utc_timestamp("2024-02-29T23:59:59Z") == 1709251199);
    for (const char* bad : {"2023-02-29T00:00:00Z", "2027-03-01 00:00:00Z", "2027-03-01T00:00:00", "2027-3-01T00:00:00Z",
                            "2027-13-01T00:00:00Z", "2027-03-01T24:00:00Z", "1969-12-31T23:59:59Z", "",
                            "2027-03-01T00:00:00+01:00", "２027-03-01T00:00:00Z"})
        BOOST_TEST(!parse_utc_timestamp(bad).has_value(), bad);
    for (const char* t : {"1970-01-01T00:00:00Z", "2000-02-29T12:34:56Z", "2027-03-01T00:00:00Z", "9999-12-31T23:59:59Z"})
        BOOST_TEST(format_utc_timestamp(*parse_utc_timestamp(t)) == t);
}

BOOST_AUTO_TEST_CASE(host_lists) {
    const Config c = config_from(R"(routes = (
        { domain = "a.example"; host = [ "MX1.a.example", "[192.0.2.7]", "mx2.a.example." ]; port = 2525; },
        { domain = "b.example"; host = "mx.b.example"; } );)");
    BOOST_TEST(c.routes[0].hosts == (std::vector<std::string>{"mx1.a.example", "[192.0.2.7]", "mx2.a.example"}),
               boost::test_tools::per_element());
    BOOST_TEST(c.routes[1].hosts == std::vector<std::string>{"mx.b.example"}, boost::test_tools::per_element());
    // hMailServer's "a|b" is shown in the list form.
    BOOST_TEST(load_errors("routes = ( { domain = \"a.example\";\n host = \"mx1.a.example|mx2.a.example\"; } );") ==
               "t.conf:2: routes[0].host: several hosts are a list, tried in order: host = [ \"mx1.a.example\", "
               "\"mx2.a.example\" ]; (\"mx1.a.example|mx2.a.example\")\n");
    BOOST_TEST(load_errors("routes = ( { domain = \"a.example\";\n host = [ ]; } );") ==
               "t.conf:2: routes[0].host: empty list: leave host out for MX delivery\n");
    BOOST_TEST(load_errors("routes = ( { domain = \"a.example\";\n host = [ \"mx.a.example\", \"MX.a.example\" ]; } );")
                   .find("t.conf:2: routes[0].host: host listed twice (\"MX.a.example\")") != std::string::npos);
    BOOST_TEST(load_errors("routes = ( { domain = \"a.example\";\n host = [ \"mx.a.example\", \"bad host\" ]; } );")
                   .find("routes[0].host: not a host name or [IP address] (\"bad host\")") != std::string::npos);
    BOOST_TEST(load_errors("routes = ( { domain = \"a.example\";\n host = ( \"mx.a.example\", 7 ); } );")
                   .find("routes[0].host[1]: expected a string") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(etrn_and_tls_verify_rules) {
    BOOST_TEST(config_from("routes = ( { domain = \"a.example\"; etrn = true; } );").routes[0].etrn);
    BOOST_TEST(load_errors("routes = ( { domain = \"*.a.example\";\n etrn = true; } );") ==
               "t.conf:2: routes[0].etrn: ETRN names one domain: an ETRN route must be for an exact domain, not "
               "*.a.example\n");
    BOOST_TEST(load_errors("routes = ( { domain = \"*\";\n etrn = true; } );").find("not *\n") != std::string::npos);
    BOOST_TEST(load_errors("routes = ( { domain = \"a.example\";\n etrn = 1; } );") ==
               "t.conf:2: routes[0].etrn: expected true or false, found an integer\n");
    BOOST_TEST(load_errors("routes = ( { domain = \"a.example\"; host = \"mx.a.example\";\n tls_verify = true; } );") ==
               "t.conf:2: routes[0].tls_verify: needs security \"starttls-required\" or \"tls\": a certificate is only "
               "checked on a connection that must be encrypted (security \"none\")\n");
    BOOST_TEST(load_errors("routes = ( { domain = \"a.example\"; host = [ \"mx.a.example\", \"[192.0.2.1]\" ];\n"
                           " security = \"tls\"; tls_verify = true; } );") ==
               "t.conf:2: routes[0].tls_verify: a certificate names a host, and [192.0.2.1] is an IP address: give "
               "the host's name\n");
    const Config ok = config_from(
        "routes = ( { domain = \"a.example\"; host = \"mx.a.example\"; security = \"starttls-required\"; tls_verify = true; } );");
    BOOST_TEST(ok.routes[0].tls_verify);
}

BOOST_AUTO_TEST_CASE(range_settings) {
    const Config c = config_from(R"(ip_ranges = (
        { name = "temp"; priority = 20; cidr = "192.0.2.0/24"; allow = [ "external-local" ];
          expires = "2027-03-01T00:00:00Z"; require_tls_for_auth = true; } );)");
    BOOST_TEST(*c.ip_ranges[0].expires == 1803859200);
    BOOST_TEST(c.ip_ranges[0].require_tls_for_auth);
    BOOST_TEST(c.ip_ranges[0].expired_at(1803859200));
    BOOST_TEST(!c.ip_ranges[0].expired_at(1803859199));
    BOOST_TEST(load_errors("ip_ranges = ( { name = \"r\"; priority = 1; cidr = \"10.0.0.0/8\";\n expires = \"2027-03-01\"; } );") ==
               "t.conf:2: ip_ranges[0].expires: not a UTC time YYYY-MM-DDTHH:MM:SSZ (\"2027-03-01\")\n");
    BOOST_TEST(load_errors("ip_ranges = ( { name = \"r\"; priority = 1; cidr = \"10.0.0.0/8\";\n require_tls_for_auth = \"yes\"; } );") ==
               "t.conf:2: ip_ranges[0].require_tls_for_auth: expected true or false, found a string\n");
}

BOOST_AUTO_TEST_CASE(expired_ranges_match_no_client) {
    PolicyResult r = load_policy_text(R"(
        ip_ranges = (
          { name = "partner"; priority = 20; cidr = "192.0.2.0/24"; allow = [ "external-external" ];
            expires = "2027-03-01T00:00:00Z"; },
          { name = "rest"; priority = 10; cidr = "0.0.0.0/0"; allow = [ "external-local" ]; } );
        scope = "all";)",
                                      "p.conf");
    BOOST_REQUIRE(r.policy);
    const auto before = *parse_utc_timestamp("2027-02-28T23:59:59Z");
    const auto after = *parse_utc_timestamp("2027-03-01T00:00:00Z");
    const auto client = parse_ip_address("192.0.2.9");
    BOOST_TEST(r.policy->range_for(client, before)->name == "partner");
    BOOST_TEST(r.policy->range_for(client, after)->name == "rest");
    const auto decide_at = [&](std::int64_t now) {
        return std::string(name_of(r.policy->decide(Query{client, false, "<a@far.example>", "<b@other.example>", false, now}).rule));
    };
    BOOST_TEST(decide_at(before) == "no-objection");
    BOOST_TEST(decide_at(after) == "not-allowed");
}

BOOST_AUTO_TEST_CASE(authenticated_without_tls_is_refused_where_the_range_says_so) {
    PolicyResult r = load_policy_text(R"(
        local_domains = [ "own.example" ];
        scope = "all";
        ip_ranges = (
          { name = "tls-only"; priority = 20; cidr = "192.0.2.0/24"; allow = [ "local-local", "local-external",
            "external-local", "external-external" ]; require_auth = [ "external-external" ];
            require_tls_for_auth = true; },
          { name = "plain"; priority = 10; cidr = "0.0.0.0/0"; allow = [ "external-local", "external-external" ];
            require_auth = [ "external-external" ]; } );)",
                                      "p.conf");
    BOOST_REQUIRE(r.policy);
    const auto decide = [&](const char* client, bool auth, bool tls, const char* rcpt) {
        const Decision d = r.policy->decide(Query{parse_ip_address(client), auth, "<a@far.example>", rcpt, tls, 0});
        return std::string(name_of(d.rule)) + " " + d.reply().code + " " + d.reply().xcode;
    };
    BOOST_TEST(decide("192.0.2.1", true, false, "<b@other.example>") == "tls-required 530 5.7.0");
    BOOST_TEST(decide("192.0.2.1", true, false, "<b@own.example>") == "tls-required 530 5.7.0");
    BOOST_TEST(decide("192.0.2.1", true, true, "<b@other.example>") == "no-objection 250 2.1.5");
    BOOST_TEST(decide("192.0.2.1", false, false, "<b@other.example>") == "auth-required 530 5.7.0");
    BOOST_TEST(decide("192.0.2.1", false, false, "<b@own.example>") == "no-objection 250 2.1.5");
    BOOST_TEST(decide("198.51.100.1", true, false, "<b@other.example>") == "no-objection 250 2.1.5");
    BOOST_TEST(decide("192.0.2.1", true, false, "<postmaster>") == "postmaster 250 2.1.5");
    char text[256];
    format_reply_text(Rule::tls_required, "<b@other.example>", text, sizeof text);
    BOOST_TEST(std::string(text) == "Must issue a STARTTLS command first.");
}

BOOST_AUTO_TEST_CASE(postfix_host_lists_each_get_policy_and_credentials) {
    const PostfixMapsResult r = render(R"(routes = (
        { domain = "a.example"; host = [ "mx1.a.example", "[192.0.2.7]" ]; port = 587; security = "starttls-required";
          auth = { user = "u"; password = "p"; }; },
        { domain = "v.example"; host = "mx.v.example"; security = "tls"; tls_verify = true; },
        { domain = "w.example"; security = "starttls-required"; tls_verify = true; } );)");
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_text(r));
    const std::string transport = content_of(file(r, "transport"));
    BOOST_TEST(transport.find("a.example\tsmtp:[mx1.a.example]:587, [192.0.2.7]:587\n") != std::string::npos, transport);
    BOOST_TEST(transport.find("v.example\troute-smtps:[mx.v.example]:465\n") != std::string::npos, transport);
    const std::string sasl = content_of(file(r, "sasl_passwd"));
    BOOST_TEST(sasl.find("[mx1.a.example]:587\tu:p\n") != std::string::npos);
    BOOST_TEST(sasl.find("[192.0.2.7]:587\tu:p\n") != std::string::npos);
    const std::string tls = content_of(file(r, "tls_policy"));
    BOOST_TEST(tls.find("[mx1.a.example]:587\tencrypt\n") != std::string::npos, tls);
    BOOST_TEST(tls.find("[192.0.2.7]:587\tencrypt\n") != std::string::npos, tls);
    BOOST_TEST(tls.find("[mx.v.example]:465\tsecure\n") != std::string::npos, tls);
    BOOST_TEST(tls.find("w.example\tverify\n") != std::string::npos, tls);
    BOOST_TEST(content_of(file(r, "main.cf.snippet")).find("smtp_tls_CApath") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(postfix_host_lists_need_3_5) {
    const char* text = "routes = ( { domain = \"a.example\"; host = [ \"mx1.a.example\", \"mx2.a.example\" ]; } );";
    BOOST_TEST(render(text, "3.5.0").errors.empty());
    BOOST_TEST(render(text, "10.0").errors.empty());
    BOOST_TEST(errors_text(render(text, "3.4.14")) ==
               "maps.conf:1: routes: a.example: several hosts need Postfix 3.5 or later; this Postfix is 3.4.14: give "
               "one host, or upgrade Postfix\n");
    BOOST_TEST(errors_text(render(text, "")) ==
               "maps.conf:1: routes: a.example: several hosts need Postfix 3.5 or later, and this Postfix's version is "
               "unknown (postconf: not found)\n");
    // One host needs no particular version.
    BOOST_TEST(render("routes = ( { domain = \"a.example\"; host = \"mx1.a.example\"; } );", "2.11.0").errors.empty());
}

BOOST_AUTO_TEST_CASE(postfix_etrn_routes) {
    const PostfixMapsResult r = render(R"(routes = (
        { domain = "site.example"; host = "gw.site.example"; etrn = true; treat_recipient_as = "local"; },
        { domain = "mx.example"; etrn = true; },
        { domain = "s.example"; host = "gw.s.example"; security = "tls"; etrn = true; },
        { domain = "plain.example"; host = "gw.plain.example"; } );)");
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_text(r));
    const std::string transport = content_of(file(r, "transport"));
    BOOST_TEST(transport.find("site.example\troute-etrn:[gw.site.example]:25\n") != std::string::npos, transport);
    BOOST_TEST(transport.find("mx.example\troute-etrn:\n") != std::string::npos, transport);
    BOOST_TEST(transport.find("s.example\troute-etrn-smtps:[gw.s.example]:465\n") != std::string::npos, transport);
    BOOST_TEST(transport.find("plain.example\tsmtp:[gw.plain.example]:25\n") != std::string::npos, transport);
    const std::string etrn = content_of(file(r, "etrn_domains"));
    BOOST_TEST(etrn.find("site.example\tOK\nmx.example\tOK\n") == std::string::npos);  // sorted
    BOOST_TEST(etrn.find("mx.example\tOK\ns.example\tOK\nsite.example\tOK\n") != std::string::npos, etrn);
    BOOST_TEST(etrn.find("plain.example") == std::string::npos);
    const std::string main_cf = content_of(file(r, "main.cf.snippet"));
    BOOST_TEST(main_cf.find("defer_transports = route-etrn, route-etrn-smtps\n") != std::string::npos, main_cf);
    BOOST_TEST(main_cf.find("fast_flush_domains = hash:/m/etrn_domains\n") != std::string::npos);
    BOOST_TEST(main_cf.find("smtpd_etrn_restrictions = check_etrn_access hash:/m/etrn_domains, reject\n") != std::string::npos);
    BOOST_TEST(main_cf.find("fast_flush_domains,") == std::string::npos);  // not in parent_domain_matches_subdomains
    const std::string master = content_of(file(r, "master.cf.snippet"));
    BOOST_TEST(master.find("route-etrn unix") != std::string::npos);
    BOOST_TEST(master.find("route-etrn-smtps unix  -       -       n       -       -       smtp\n  -o smtp_tls_wrappermode=yes\n") !=
               std::string::npos, master);
    // Without ETRN routes: no deferred transport, and ETRN for no domain.
    const PostfixMapsResult none = render("routes = ( { domain = \"a.example\"; } );");
    BOOST_TEST(content_of(file(none, "main.cf.snippet")).find("defer_transports = \n") != std::string::npos);
    BOOST_TEST(content_of(file(none, "master.cf.snippet")).find("route-etrn") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
