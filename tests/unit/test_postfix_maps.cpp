#define BOOST_TEST_DYN_LINK
#include "route_milter/config/config_loader.hpp"
#include "route_milter/postfix/postfix_maps.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

using namespace route_milter;

namespace {

using testing::config_from;


const RenderedFile& file(const PostfixMapsResult& r, const std::string& name) {
    for (const RenderedFile& f : r.files)
        if (f.name == name) return f;
    BOOST_FAIL("no file " + name);
    throw;
}

// The table's lines without the comment header.
std::string body(const PostfixMapsResult& r, const std::string& name) {
    std::string out;
    const std::string content = content_of(file(r, name));
    std::size_t start = 0;
    while (start < content.size()) {
        const std::size_t end = content.find('\n', start);
        const std::string line = content.substr(start, end - start);
        if (!line.empty() && line.front() != '#') out += line + "\n";
        start = end == std::string::npos ? content.size() : end + 1;
    }
    return out;
}

std::string errors_of(const PostfixMapsResult& r) { return testing::errors_text(r); }

const char* routes = R"(
    milter = { socket = "inet:8891@127.0.0.1"; };
    local_domains = [ "local.test", "mx.test" ];
    routes = (
      { domain = "Example.COM"; host = "MX1.example.com"; security = "starttls";
        treat_recipient_as = "local"; deliver_to = "listed"; addresses = [ "Bob@example.com", "alice@example.com" ];
        retries = 30; retry_minutes = 60; },
      { domain = "*.wild.test"; host = "[192.0.2.5]"; port = 2525; security = "starttls-required";
        treat_recipient_as = "local"; auth = { user = "relay"; password = "s3 cr:et"; }; },
      { domain = "smtps.test"; host = "smtp.smtps.test"; security = "tls"; },
      { domain = "all.test"; host = "127.0.0.1"; treat_recipient_as = "local"; },
      { domain = "mx.test"; security = "starttls-required"; },
      { domain = "*"; host = "smarthost.test"; port = 587; }
    );
)";

}  // namespace

BOOST_AUTO_TEST_SUITE(postfix_maps)

BOOST_AUTO_TEST_CASE(tables_are_sorted_and_complete) {
    const Config c = config_from(routes);
    const PostfixMapsResult r = render_postfix_maps(c, {"/etc/postfix/routes", "", "3.7.11", "", PostfixTableType::lmdb});
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    // "*" becomes default_transport; routes without host and local domains get ":" (MX or
    // local delivery), so that neither a wildcard nor "*" takes them.
    BOOST_TEST(body(r, "transport") ==
               ".wild.test\tsmtp:[192.0.2.5]:2525\n"
               "all.test\tsmtp:[127.0.0.1]:25\n"
               "example.com\tsmtp:[mx1.example.com]:25\n"
               "local.test\t:\n"
               "mx.test\t:\n"
               "smtps.test\troute-smtps:[smtp.smtps.test]:465\n");
    BOOST_TEST(body(r, "sasl_passwd") == "[192.0.2.5]:2525\trelay:s3 cr:et\n");
    BOOST_TEST(file(r, "sasl_passwd").mode == 0600u);
    // Hosts of routes without security keep Postfix's own level: no entry.
    BOOST_TEST(body(r, "tls_policy") ==
               "[192.0.2.5]:2525\tencrypt\n"
               "[mx1.example.com]:25\tmay\n"
               "[smtp.smtps.test]:465\tencrypt\n"
               "mx.test\tencrypt\n");
    // Local domains are relay domains too (without relay_recipients entries): one Postfix does
    // not know as its own is refused instead of going out through the "*" route.
    BOOST_TEST(body(r, "relay_domains") == "all.test\tOK\nexample.com\tOK\n");
    BOOST_TEST(body(r, "relay_domains.regexp") == "/\\.wild\\.test$/\tOK\n");
    BOOST_TEST(body(r, "relay_recipients") == "@all.test\tOK\nalice@example.com\tOK\nbob@example.com\tOK\n");
    BOOST_TEST(body(r, "relay_recipients.regexp") == "/@.+\\.wild\\.test$/\tOK\n");
    BOOST_TEST(body(r, "master.cf.snippet").find("route-smtps unix") == 0u);
    BOOST_TEST(body(r, "master.cf.snippet").find("smtp_tls_wrappermode=yes") != std::string::npos);
    const std::string main_cf = body(r, "main.cf.snippet");
    BOOST_TEST(main_cf.find("transport_maps = lmdb:/etc/postfix/routes/transport\n") != std::string::npos);
    BOOST_TEST(main_cf.find("smtp_sasl_password_maps = lmdb:/etc/postfix/routes/sasl_passwd\n") != std::string::npos);
    // Its own default action: Postfix tempfails when it is down, whatever the other milters say.
    BOOST_TEST(main_cf.find("smtpd_milters = { inet:127.0.0.1:8891, default_action=tempfail }\n") != std::string::npos);
    BOOST_TEST(main_cf.find("milter_default_action") == std::string::npos);
    BOOST_TEST(main_cf.find("default_transport = smtp:[smarthost.test]:587\n") != std::string::npos);
    const std::size_t parent = main_cf.find("parent_domain_matches_subdomains = ");
    BOOST_REQUIRE(parent != std::string::npos);
    const std::string parent_line = main_cf.substr(parent, main_cf.find('\n', parent) - parent);
    BOOST_TEST(parent_line.find("relay_domains") == std::string::npos);  // Postfix's default minus it
    BOOST_TEST(parent_line.find("smtpd_access_maps") != std::string::npos);
    // Postfix's default 5 days already outlasts 30 x 60 minutes.
    BOOST_TEST(main_cf.find("maximal_queue_lifetime = 7200m\n") != std::string::npos);
    for (const RenderedFile& f : r.files)  // the password is in sasl_passwd and nowhere else
        if (f.name != "sasl_passwd") BOOST_TEST(content_of(f).find("s3 cr:et") == std::string::npos, f.name);
}

BOOST_AUTO_TEST_CASE(output_is_deterministic) {
    const Config c = config_from(routes);
    const PostfixMapsResult a = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    const PostfixMapsResult b = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_REQUIRE(a.files.size() == b.files.size());
    for (std::size_t i = 0; i < a.files.size(); ++i) BOOST_TEST(content_of(a.files[i]) == content_of(b.files[i]));
}

BOOST_AUTO_TEST_CASE(main_cf_names_every_keyed_table_with_the_table_type) {
    const Config c = config_from(routes);
    const std::vector<std::string> keyed{"transport", "relay_domains", "relay_recipients", "sasl_passwd", "tls_policy",
                                         "etrn_domains"};
    for (const PostfixTableType type : {PostfixTableType::cdb, PostfixTableType::lmdb, PostfixTableType::hash}) {
        const std::string name(postfix_table_type_names.name(type));
        const std::string main_cf = body(render_postfix_maps(c, {"/d", "", "3.7.11", "", type}), "main.cf.snippet");
        std::size_t references = 0;
        for (std::size_t at = main_cf.find(":/d/"); at != std::string::npos; at = main_cf.find(":/d/", at + 1)) {
            const std::size_t start = main_cf.find_last_of(" ,", at) + 1;
            const std::string prefix = main_cf.substr(start, at - start);
            const std::string table = main_cf.substr(at + 4, main_cf.find_first_of(",\n", at) - at - 4);
            const bool regexp = table.size() > 7 && table.compare(table.size() - 7, 7, ".regexp") == 0;
            BOOST_TEST(prefix == (regexp ? "regexp" : name), table);
            if (!regexp) BOOST_TEST((std::find(keyed.begin(), keyed.end(), table) != keyed.end()), table);
            ++references;
        }
        BOOST_TEST(references == 9u, name);  // etrn_domains twice, two regexp tables
    }
    BOOST_TEST(postfix_table_suffix(PostfixTableType::cdb) == ".cdb");
    BOOST_TEST(postfix_table_suffix(PostfixTableType::lmdb) == ".lmdb");
    BOOST_TEST(postfix_table_suffix(PostfixTableType::hash) == ".db");
}

BOOST_AUTO_TEST_CASE(long_schedules_extend_the_queue_lifetime) {
    const Config c = config_from("routes = ( { domain = \"slow.test\"; retries = 200; retry_minutes = 60; } );");
    const PostfixMapsResult r = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    // 200 x 60 min = 12000 min, plus a day of slack.
    BOOST_TEST(body(r, "main.cf.snippet").find("maximal_queue_lifetime = 13440m\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(what_postfix_cannot_express_is_an_error) {
    struct Case {
        const char* text;
        const char* expected;
    };
    const Case cases[] = {
        {"routes = ( { domain = \"a.test\"; security = \"tls\"; } );", "security \"tls\" (SMTPS) needs a host"},
        {"routes = ( { domain = \"a.test\"; host = \"mx.test\"; auth = { user = \"u:x\"; password = \"p\"; }; } );",
         "auth.user cannot be written"},
        {"routes = ( { domain = \"a.test\"; host = \"mx.test\"; auth = { user = \"u\"; password = \"p\\n\"; }; } );",
         "auth.password cannot be written"},
        {"routes = ( { domain = \"a.test\"; host = \"mx.test\"; auth = { user = \"u\"; password = \"one\"; }; },\n"
         " { domain = \"b.test\"; host = \"mx.test\"; auth = { user = \"u\"; password = \"two\"; }; } );",
         "maps.conf:2: routes: b.test: SMTP AUTH credentials for [mx.test]:25 differs from the route at line 1"},
        {"routes = ( { domain = \"a.test\"; host = \"mx.test\"; security = \"none\"; },\n"
         " { domain = \"b.test\"; host = \"mx.test\"; security = \"starttls\"; } );",
         "TLS policy for [mx.test]:25 differs"},
        {"routes = ( { domain = \"a.test\"; host = \"mx.test\"; auth = { user = \"u\"; password = \"one\"; }; },\n"
         " { domain = \"b.test\"; host = \"mx.test\"; } );",
         "maps.conf:2: routes: b.test: next hop [mx.test]:25 is shared with route a.test (line 1), and only a.test "
         "(line 1) has auth"},
        {"routes = ( { domain = \"b.test\"; host = \"[192.0.2.1]\"; },\n"
         " { domain = \"a.test\"; host = \"192.0.2.1\"; auth = { user = \"u\"; password = \"one\"; }; } );",
         "maps.conf:2: routes: a.test: next hop [192.0.2.1]:25 is shared with route b.test (line 1), and only a.test "
         "(line 2) has auth: sasl_passwd is keyed by next hop, so b.test (line 1) would log in with its credentials"},
        {"routes = ( { domain = \"*\"; host = \"relay.test\"; port = 587; auth = { user = \"u\"; password = \"one\"; }; },\n"
         " { domain = \"b.test\"; host = \"relay.test\"; port = 587; } );",
         "maps.conf:2: routes: b.test: next hop [relay.test]:587 is shared with route * (line 1)"},
    };
    for (const Case& c : cases) {
        const PostfixMapsResult r = render_postfix_maps(config_from(c.text), {"/d", "", "3.7.11", "", PostfixTableType::cdb});
        BOOST_TEST(r.files.empty());
        BOOST_TEST(errors_of(r).find(c.expected) != std::string::npos, c.text << "\n" << errors_of(r));
        BOOST_TEST(errors_of(r).find("\"one\"") == std::string::npos);
        BOOST_TEST(errors_of(r).find("two") == std::string::npos);
    }
}

// sasl_passwd gets what postmap gives back whole (tests/integration SaslPasswdTests asks postmap
// itself): white space at the ends of "user:password", a line feed, and what is not UTF-8 are
// refused, naming the route's line and never the password.
BOOST_AUTO_TEST_CASE(sasl_passwd_holds_what_postmap_gives_back) {
    struct Case {
        std::string user, password;
        const char* refused;  // nullptr: written
    };
    const std::string secret = "S3cret-Pw";
    const Case cases[] = {
        {"u", secret + " ", "auth.password cannot be written to sasl_passwd: it ends in white space"},
        {"u", secret + "\t", "auth.password cannot be written to sasl_passwd: it ends in white space"},
        {"u", secret + "\v", "auth.password cannot be written to sasl_passwd: it ends in white space"},
        {"u", secret + "\f", "auth.password cannot be written to sasl_passwd: it ends in white space"},
        {"u", secret + "\r", "auth.password cannot be written to sasl_passwd: it ends in white space"},
        {"u", "S3c\nret", "auth.password cannot be written to sasl_passwd: it holds a line feed"},
        {"u", secret + "\xe9", "auth.password cannot be written to sasl_passwd: it is not valid UTF-8"},
        {"u", secret + "\xed\xa0\x80", "auth.password cannot be written to sasl_passwd: it is not valid UTF-8"},
        {"\fu", secret, "auth.user cannot be written to sasl_passwd: it starts with white space"},
        {"u:x", secret, "auth.user cannot be written to sasl_passwd: it holds a ':'"},
        {"u\xc0\x80", secret, "auth.user cannot be written to sasl_passwd: it is not valid UTF-8"},
        {"u", " \v\f" + secret, nullptr},  // inside the value postmap keeps white space
        {"u \t", "S3\x0b\rcret-\xe2\x82\xac", nullptr},
    };
    for (const Case& c : cases) {
        Config config = config_from(R"(routes = ( { domain = "b.test"; },
            { domain = "a.test"; host = "mx.test"; auth = { user = "x"; password = "y"; }; } );)");
        auto auth = std::make_shared<RouteAuth>(*config.routes.at(1).auth);
        auth->user = c.user;
        auth->password = c.password;
        config.routes.at(1).auth = auth;
        const PostfixMapsResult r = render_postfix_maps(config, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
        if (c.refused == nullptr) {
            BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
            BOOST_TEST(body(r, "sasl_passwd") == "[mx.test]:25\t" + c.user + ":" + c.password + "\n");
            continue;
        }
        BOOST_TEST(r.files.empty());
        BOOST_TEST(errors_of(r).find(std::string("maps.conf:2: routes: a.test: ") + c.refused) != std::string::npos,
                   errors_of(r));
        BOOST_TEST(errors_of(r).find("S3c") == std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(route_without_host_resets_the_nexthop) {
    // ":" would keep default_transport's nexthop (the "*" route's relay); "smtp:" makes the
    // recipient domain the nexthop (MX delivery) and its TLS policy is looked up by domain.
    const Config c = config_from(R"(
        local_domains = [ "own.test" ];
        routes = (
          { domain = "mxonly.test"; security = "starttls-required"; },
          { domain = "*.mxwild.test"; },
          { domain = "*.own.test"; host = "sub.relay.test"; },
          { domain = "*"; host = "relay.isp.test"; port = 587; auth = { user = "isp"; password = "pw"; }; }
        );)");
    const PostfixMapsResult r = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "transport") ==
               ".mxwild.test\tsmtp:\n"
               ".own.test\tsmtp:[sub.relay.test]:25\n"
               "mxonly.test\tsmtp:\n"
               "own.test\t:\n");
    BOOST_TEST(body(r, "tls_policy").find("mxonly.test\tencrypt\n") != std::string::npos);
    BOOST_TEST(body(r, "sasl_passwd") == "[relay.isp.test]:587\tisp:pw\n");
    BOOST_TEST(body(r, "main.cf.snippet").find("default_transport = smtp:[relay.isp.test]:587\n") != std::string::npos);
    // the local domain is Postfix's own: neither a relay domain nor a relay recipient
    BOOST_TEST(body(r, "relay_domains") == "");
    BOOST_TEST(body(r, "relay_recipients") == "");
}

BOOST_AUTO_TEST_CASE(queue_lifetime_capped_at_postfix_maximum) {
    const Config c = config_from(R"(routes = (
        { domain = "a.test"; retries = 100; retry_minutes = 1440; },
        { domain = "b.test"; retries = 2; retry_minutes = 60; } );)");
    const PostfixMapsResult r = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    const std::string main_cf = content_of(file(r, "main.cf.snippet"));
    BOOST_TEST(main_cf.find("maximal_queue_lifetime = 144000m\n") != std::string::npos, main_cf);
    BOOST_TEST(main_cf.find("bounce_queue_lifetime = 144000m\n") != std::string::npos);
    BOOST_TEST(main_cf.find("# Capped at Postfix's maximum (100d): the longest route schedule needs 145440m") !=
               std::string::npos);
    BOOST_REQUIRE(r.notes.size() == 1u);
    BOOST_TEST(format_diagnostic(r.notes[0]).find("maps.conf:2: routes: a.test: 100 retries 1440 minutes apart") == 0u,
               format_diagnostic(r.notes[0]));
    // just below the maximum: no cap, no note
    const PostfixMapsResult below = render_postfix_maps(
        config_from("routes = ( { domain = \"a.test\"; retries = 99; retry_minutes = 1440; } );"), {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_TEST(content_of(file(below, "main.cf.snippet")).find("maximal_queue_lifetime = 144000m\n") != std::string::npos);
    BOOST_TEST(content_of(file(below, "main.cf.snippet")).find("Capped") == std::string::npos);
    BOOST_TEST(below.notes.empty());
}

BOOST_AUTO_TEST_CASE(wildcard_relay_lines_exclude_more_specific_routes) {
    const Config c = config_from(R"(routes = (
        { domain = "*.wild.test"; host = "mx.wild.test"; treat_recipient_as = "local"; },
        { domain = "listed.wild.test"; host = "mx.wild.test"; treat_recipient_as = "local"; deliver_to = "listed";
          addresses = [ "alice@listed.wild.test" ]; },
        { domain = "ext.wild.test"; host = "mx.wild.test"; },
        { domain = "*.x.wild.test"; host = "mx.wild.test"; },
        { domain = "*.l.x.wild.test"; host = "mx.wild.test"; treat_recipient_as = "local"; },
        { domain = "other.test"; host = "mx.wild.test"; } );)");
    const PostfixMapsResult r = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "relay_domains.regexp") ==
               "/\\.l\\.x\\.wild\\.test$/\tOK\n"
               "if !/^(ext\\.wild\\.test|.+\\.x\\.wild\\.test)$/\n"
               "/\\.wild\\.test$/\tOK\n"
               "endif\n");
    BOOST_TEST(body(r, "relay_recipients.regexp") ==
               "/@.+\\.l\\.x\\.wild\\.test$/\tOK\n"
               "if !/@(listed\\.wild\\.test|ext\\.wild\\.test|.+\\.x\\.wild\\.test)$/\n"
               "/@.+\\.wild\\.test$/\tOK\n"
               "endif\n");
    BOOST_TEST(body(r, "relay_domains") == "listed.wild.test\tOK\n");
    BOOST_TEST(body(r, "relay_recipients") == "alice@listed.wild.test\tOK\n");
}

BOOST_AUTO_TEST_CASE(awkward_addresses_are_written_as_postfix_looks_them_up) {
    // Stored canonical (quoting removed); Postfix looks up the external form first, and
    // postmap reads it as it is, blanks inside the quotes included (Postfix >= 3.2).
    const Config c = config_from(R"(routes = ( { domain = "a.test"; treat_recipient_as = "local"; deliver_to = "listed";
        addresses = [ "\"#sales\"@a.test", "\"john doe\"@a.test", "\"x@y\"@a.test", "\"a\\\"b\"@a.test",
                      "\"back\\\\slash\"@a.test", "\".dot\"@a.test", "plain.name@a.test" ]; } );)");
    const PostfixMapsResult r = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "relay_recipients") ==
               "\".dot\"@a.test\tOK\n"
               "\"a\\\"b\"@a.test\tOK\n"
               "\"back\\\\slash\"@a.test\tOK\n"
               "\"john doe\"@a.test\tOK\n"
               "\"x@y\"@a.test\tOK\n"
               "plain.name@a.test\tOK\n");
    // #sales@a.test needs no quotes, and postmap would read the line as a comment
    BOOST_TEST(body(r, "relay_recipients.regexp") == "/^#sales@a\\.test$/\tOK\n");
}

BOOST_AUTO_TEST_CASE(idn_domains_in_both_forms) {
    const Config c = config_from(R"(
        local_domains = [ "Straße.test" ];
        routes = (
          { domain = "bücher.test"; host = "mx.bücher.test"; treat_recipient_as = "local"; deliver_to = "listed";
            addresses = [ "hans@bücher.test" ]; },
          { domain = "*.müller.test"; host = "mx.test"; treat_recipient_as = "local"; },
          { domain = "ä.müller.test"; host = "mx.test"; },
          { domain = "café.test"; security = "starttls"; } );)");
    const PostfixMapsResult r = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "transport") ==
               ".m\xC3\xBCller.test\tsmtp:[mx.test]:25\n"
               ".xn--mller-kva.test\tsmtp:[mx.test]:25\n"
               "bücher.test\tsmtp:[mx.xn--bcher-kva.test]:25\n"
               "café.test\tsmtp:\n"
               "straße.test\t:\n"
               "xn--4ca.xn--mller-kva.test\tsmtp:[mx.test]:25\n"
               "xn--bcher-kva.test\tsmtp:[mx.xn--bcher-kva.test]:25\n"
               "xn--caf-dma.test\tsmtp:\n"
               "xn--strae-oqa.test\t:\n"
               "ä.müller.test\tsmtp:[mx.test]:25\n");
    BOOST_TEST(body(r, "relay_recipients") == "hans@bücher.test\tOK\nhans@xn--bcher-kva.test\tOK\n");
    BOOST_TEST(body(r, "relay_domains") ==
               "bücher.test\tOK\nxn--bcher-kva.test\tOK\n");
    BOOST_TEST(body(r, "tls_policy").find("café.test\tmay\nxn--caf-dma.test\tmay\n") != std::string::npos,
               body(r, "tls_policy"));
    BOOST_TEST(body(r, "relay_domains.regexp") ==
               "if !/^(xn\\-\\-4ca\\.xn\\-\\-mller\\-kva\\.test|ä\\.müller\\.test)$/\n"
               "/\\.m\xC3\xBCller\\.test$/\tOK\nendif\n"
               "if !/^(xn\\-\\-4ca\\.xn\\-\\-mller\\-kva\\.test|ä\\.müller\\.test)$/\n"
               "/\\.xn\\-\\-mller\\-kva\\.test$/\tOK\nendif\n");
}

// main.cf reads a list at blanks and commas, a line break ends a setting (and the next line is
// one of its own), '$' expands, '{' '}' group: an output directory or a milter address holding
// any of them, a control character or 8-bit is refused, named on one line; no file is written.
BOOST_AUTO_TEST_CASE(values_main_cf_would_split_are_errors) {
    const Config c = config_from(R"(routes = ( { domain = "a.test"; host = "mx.a.test"; } );)");
    for (const std::string dir : {"relative/dir", "", "/with space", "/comma,dir", "/new\nrelay_domains = static:OK",
                                  "/tab\tdir", "/dollar$dir", "/{grouped}", "/cr\rdir", "/8bit\xc3\xa9", "/del\x7f"}) {
        const PostfixMapsResult r = render_postfix_maps(c, {dir, "", "3.7.11", "", PostfixTableType::cdb});
        BOOST_TEST(r.files.empty(), dir);
        BOOST_TEST(errors_of(r) == "maps.conf: output directory cannot be named in main.cf: it must be an absolute path "
                                   "of printable ASCII without blanks, commas, '$', '{' or '}', which Postfix reads as "
                                   "separators or expansions (\"" + one_line(dir) + "\")\n",
                   dir);
        BOOST_TEST(errors_of(r).find('\n') == errors_of(r).size() - 1);  // one line
    }
    for (const std::string milter : {"inet:127.0.0.1:8891, unix:/other", "unix:/a b", "unix:/x\nrelay_domains = static:OK",
                                     "inet:$myhostname:8891", "{ inet:127.0.0.1:8891, connect_timeout=5s }"}) {
        const PostfixMapsResult r = render_postfix_maps(c, {"/d", milter, "3.7.11", "", PostfixTableType::cdb});
        BOOST_TEST(r.files.empty(), milter);
        BOOST_TEST(errors_of(r) == "maps.conf: --milter cannot be named in smtpd_milters: printable ASCII without blanks, "
                                   "commas, '$', '{' or '}' (\"" + one_line(milter) + "\")\n",
                   milter);
    }
    // (A control character in milter.socket is refused by the loader already, like any in a config string.)
    for (const std::string socket : {"unix:/run/route milter.sock", "unix:/run/a,b.sock", "unix:/run/$x.sock"}) {
        std::string quoted;  // as a libconfig string
        for (const char ch : socket) quoted += ch == '\n' ? std::string("\\n") : std::string(1, ch);
        const std::string text = R"(milter = { socket = ")" + quoted + R"("; }; routes = ( { domain = "a.test"; } );)";
        const PostfixMapsResult r = render_postfix_maps(config_from(text), {"/d", "", "3.7.11", "", PostfixTableType::cdb});
        BOOST_TEST(r.files.empty(), socket);
        BOOST_TEST(errors_of(r) == "maps.conf: milter.socket cannot be named in smtpd_milters: printable ASCII without "
                                   "blanks, commas, '$', '{' or '}' (\"" + one_line(socket) + "\")\n",
                   socket);
    }
    // What is fine: '#', ':', '=', '@', '[', ']' and the like.
    const PostfixMapsResult ok = render_postfix_maps(c, {"/srv/post#fix/maps=1", "inet:[::1]:8891", "3.7.11", "", PostfixTableType::cdb});
    BOOST_TEST(ok.errors.empty(), errors_of(ok));
}

// The config's file name goes into a comment line of every file: whatever it holds, it stays
// on that line (a map would read a line after it as an entry, main.cf as a setting).
BOOST_AUTO_TEST_CASE(the_config_name_stays_in_its_comment) {
    Config c = config_from(R"(routes = ( { domain = "a.test"; host = "mx.a.test"; } );)");
    c.file = "/tmp/x\nrelay_domains = static:OK\r\n.evil.test\tsmtp:[mx.evil.test]";
    const PostfixMapsResult r = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    for (const RenderedFile& f : r.files) {
        const std::string content = content_of(f);
        BOOST_TEST(content.find("# generated by routectl postfix from /tmp/x\\nrelay_domains = static:OK\\x0d\\n"
                                ".evil.test\\tsmtp:[mx.evil.test]; do not edit") != std::string::npos, f.name);
        BOOST_TEST(content.find("\nrelay_domains = static") == std::string::npos, f.name);
        BOOST_TEST(content.find("\n.evil.test") == std::string::npos, f.name);
    }
}

// The maps hold an IDN domain in its A-labels and in the one U-label spelling the milter takes
// for them (domain.hpp): an A-label that decodes to another spelling (decomposed, upper case,
// fullwidth) gets no U-label key, which would route what the milter refuses.
BOOST_AUTO_TEST_CASE(idn_keys_only_in_spellings_the_milter_takes) {
    const Config c = config_from(R"(
        routes = (
          { domain = "xn--bucher-xyd.test"; host = "mx.test"; treat_recipient_as = "local"; },
          { domain = "xn--bcher-2pa.test"; host = "mx.test"; },
          { domain = "*.xn--cher-zra77610b.test"; host = "mx.test"; },
          { domain = "xn--bcher-kva.test"; host = "mx.test"; } );)");
    const PostfixMapsResult r = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "transport") ==
               ".xn--cher-zra77610b.test\tsmtp:[mx.test]:25\n"
               "bücher.test\tsmtp:[mx.test]:25\n"
               "xn--bcher-2pa.test\tsmtp:[mx.test]:25\n"
               "xn--bcher-kva.test\tsmtp:[mx.test]:25\n"
               "xn--bucher-xyd.test\tsmtp:[mx.test]:25\n");
    BOOST_TEST(body(r, "relay_domains") == "xn--bucher-xyd.test\tOK\n");
}

BOOST_AUTO_TEST_CASE(milter_addresses_for_postfix) {
    BOOST_TEST(postfix_milter_address(testing::milter_socket("inet:8891@127.0.0.1")) == "inet:127.0.0.1:8891");
    BOOST_TEST(postfix_milter_address(testing::milter_socket("unix:/run/route-milter/route-milter.sock")) == "unix:/run/route-milter/route-milter.sock");
    BOOST_TEST(postfix_milter_address(testing::milter_socket("unix:/var/spool/postfix/route-milter/route-milter.sock")) ==
               "unix:/route-milter/route-milter.sock");
    BOOST_TEST(postfix_milter_address(testing::milter_socket("local:/x.sock")) == "unix:/x.sock");
}

// A route in warn mode is rehearsed by the milter alone: Postfix takes every recipient of it
// until it enforces; its own mode or the top-level one, exact and wildcard routes alike.
BOOST_AUTO_TEST_CASE(warn_routes_let_every_recipient_through_postfix) {
    const char* text = R"(
        routes = (
          { domain = "warned.test"; treat_recipient_as = "local"; deliver_to = "listed"; mode = "warn";
            addresses = [ "a@warned.test" ]; },
          { domain = "*.wild.test"; treat_recipient_as = "local"; deliver_to = "listed"; mode = "warn";
            addresses = [ "c@x.wild.test" ]; },
          { domain = "enforced.test"; treat_recipient_as = "local"; deliver_to = "listed"; addresses = [ "b@enforced.test" ]; }
        );
    )";
    const Config warned_config = config_from(text);
    const PostfixMapsResult warned = render_postfix_maps(warned_config, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_REQUIRE_MESSAGE(warned.errors.empty(), errors_of(warned));
    BOOST_TEST(body(warned, "relay_recipients") == "@warned.test\tOK\nb@enforced.test\tOK\n");
    BOOST_TEST(body(warned, "relay_recipients.regexp") == "/@.+\\.wild\\.test$/\tOK\n");
    // Enforcing again brings the list back.
    std::string enforced = text;
    for (std::size_t at; (at = enforced.find("mode = \"warn\";")) != std::string::npos;) enforced.erase(at, 14);
    const Config enforced_config = config_from(enforced);
    const PostfixMapsResult r = render_postfix_maps(enforced_config, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_TEST(body(r, "relay_recipients") == "a@warned.test\tOK\nb@enforced.test\tOK\nc@x.wild.test\tOK\n");
    BOOST_TEST(body(r, "relay_recipients.regexp").empty());
    // A top-level warn covers the routes that say nothing.
    const Config top_config = config_from("mode = \"warn\";\n" + enforced);
    const PostfixMapsResult top = render_postfix_maps(top_config,
                                                      {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_TEST(body(top, "relay_recipients") == "@enforced.test\tOK\n@warned.test\tOK\n");
    BOOST_TEST(body(top, "relay_recipients.regexp") == "/@.+\\.wild\\.test$/\tOK\n");
}

// A password never crosses the wire in clear: a route with AUTH and no security requires TLS;
// without AUTH, unset security keeps Postfix's own level.
BOOST_AUTO_TEST_CASE(auth_without_security_requires_tls) {
    const Config c = config_from(R"(
        routes = (
          { domain = "auth.test"; host = "relay.auth.test"; port = 587; auth = { user = "u"; password = "p"; }; },
          { domain = "plain.test"; host = "relay.plain.test"; },
          { domain = "none.test"; host = "relay.none.test"; security = "none"; }
        );
    )");
    const PostfixMapsResult r = render_postfix_maps(c, {"/d", "", "3.7.11", "", PostfixTableType::cdb});
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "tls_policy") == "[relay.auth.test]:587\tencrypt\n[relay.none.test]:25\tnone\n");
    const std::string main_cf = body(r, "main.cf.snippet");
    BOOST_TEST(main_cf.find("smtp_sasl_tls_security_options = noanonymous\n") != std::string::npos);
    BOOST_TEST(main_cf.find("smtp_sasl_security_options") == std::string::npos);  // Postfix's noplaintext stays
}

// The admin's own relay domains keep taking every recipient once relay_recipient_maps is set;
// a domain a route covers as local gets the route's list instead.
BOOST_AUTO_TEST_CASE(kept_relay_domains_take_every_recipient) {
    const Config c = config_from(R"(
        routes = ( { domain = "backup.test"; treat_recipient_as = "local"; deliver_to = "listed";
                     addresses = [ "a@backup.test" ]; } );
    )");
    PostfixMapsOptions options{"/d", "", "3.7.11", "", PostfixTableType::cdb, {"admin.test", "backup.test", "xn--caf-dma.test"}};
    const PostfixMapsResult r = render_postfix_maps(c, options);
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), errors_of(r));
    BOOST_TEST(body(r, "relay_recipients") == "@admin.test\tOK\n@café.test\tOK\n@xn--caf-dma.test\tOK\na@backup.test\tOK\n");
}

BOOST_AUTO_TEST_SUITE_END()
