#define BOOST_TEST_DYN_LINK
#include "route_milter/config/config_loader.hpp"
#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/policy.hpp"
#include "route_milter/core/printable.hpp"
#include "route_milter/hmailserver/backup.hpp"
#include "route_milter/hmailserver/import.hpp"
#include "route_milter/hmailserver/password.hpp"
#include "route_milter/hmailserver/wildcard.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <optional>
#include <random>

using namespace route_milter;
using namespace route_milter::hmailserver;

namespace {

constexpr long long now = 1795000000;  // 2026-11-18

// hMailServer's defaults (DBScripts/CreateTables*.sql).
HmsSecurityRange range(std::string name, std::string lower, std::string upper, long long priority, long long options) {
    HmsSecurityRange r;
    r.name = std::move(name);
    r.lower_ip = std::move(lower);
    r.upper_ip = std::move(upper);
    r.priority = priority;
    r.options = options;
    return r;
}
HmsSecurityRange internet() { return range("Internet", "0.0.0.0", "255.255.255.255", 10, 96203); }
HmsSecurityRange my_computer() { return range("My computer", "127.0.0.1", "127.0.0.1", 30, 71627); }

HmsRoute route(std::string name, std::string host = "mx.example.net") {
    HmsRoute r;
    r.name = std::move(name);
    r.target_host = std::move(host);
    r.number_of_tries = 4;
    r.minutes_between_try = 60;
    return r;
}

HmsDomain domain(std::string name, bool active = true, std::vector<std::string> aliases = {}) {
    HmsDomain d;
    d.name = std::move(name);
    d.active = active;
    d.aliases = std::move(aliases);
    return d;
}

HmsBackup backup_with(std::vector<HmsRoute> routes, std::vector<HmsSecurityRange> ranges = {my_computer(), internet()},
                      std::vector<HmsDomain> domains = {domain("corp.example")}) {
    HmsBackup b;
    b.mode = 3;
    b.routes = std::move(routes);
    b.security_ranges = std::move(ranges);
    b.domains = std::move(domains);
    return b;
}

ImportResult imported(const HmsBackup& b) { return import_backup(b, {"test.7z", now}); }

std::string lines(const std::vector<std::string>& v) {
    std::string out;
    for (const std::string& s : v) out += s + "\n";
    return out;
}

bool has_note(const ImportResult& r, const std::string& part) {
    for (const std::string& n : r.notes)
        if (n.find(part) != std::string::npos) return true;
    return false;
}

// The imported text through the daemon's own loader; fails the test with every error.
Config loaded(const ImportResult& r) {
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), lines(r.errors));
    ConfigResult c = load_config_text(r.config_text, "imported.conf");
    BOOST_REQUIRE_MESSAGE(c.config.has_value(), testing::errors_text(c) + r.config_text);
    return std::move(*c.config);
}

std::shared_ptr<const Policy> policy_of(const ImportResult& r) {
    BOOST_REQUIRE_MESSAGE(r.errors.empty(), lines(r.errors));
    PolicyResult p = load_policy_text(r.config_text, "imported.conf");
    BOOST_REQUIRE_MESSAGE(p.policy != nullptr, testing::errors_text(p) + r.config_text);
    return p.policy;
}

std::string classes(DeliveryClassSet set) {
    std::string out;
    for (const auto& [name, c] : delivery_class_names)
        if (set.contains(c)) out += std::string(out.empty() ? "" : " ") + std::string(name);
    return out;
}

// The config with the route written commented out as `name` uncommented: "#| " deleted from the
// start of each of its lines, as the config's header tells an admin to.
std::string uncommented(const std::string& text, const std::string& name) {
    const std::size_t head = text.find("# hMailServer route \"" + name + "\", written commented out");
    BOOST_REQUIRE_MESSAGE(head != std::string::npos, name + "\n" + text);
    std::string out = text.substr(0, head);
    int state = 0;  // before the block, in it, after it
    for (std::size_t pos = head; pos < text.size();) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        const std::string_view line = std::string_view(text).substr(pos, end - pos);
        const bool marked = line.starts_with("#| ");
        if (state == 0 && marked) state = 1;
        else if (state == 1 && !marked) state = 2;
        out += std::string(state == 1 ? line.substr(3) : line) + "\n";
        pos = end + 1;
    }
    return out;
}

// Every route written commented out, uncommented.
std::string all_uncommented(const std::string& text) {
    std::string out;
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        const std::string_view line = std::string_view(text).substr(pos, end - pos);
        out += std::string(line.starts_with("#| ") ? line.substr(3) : line) + "\n";
        pos = end + 1;
    }
    return out;
}

// The text of the config's comments, each run of comment lines joined by blanks into one line.
std::string comment_text(const std::string& text) {
    std::string out;
    bool in_run = false;
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        std::string_view line = std::string_view(text).substr(pos, end - pos);
        pos = end + 1;
        if (line.starts_with("#| ")) line.remove_prefix(3);
        line.remove_prefix(std::min(line.find_first_not_of(' '), line.size()));
        if (line.starts_with("# ")) {
            out += std::string(in_run ? " " : "") + std::string(line.substr(2));
            in_run = true;
        } else if (in_run) {
            out += "\n";
            in_run = false;
        }
    }
    return out;
}

// No line of `text` starts a libconfig directive.
bool no_directive(const std::string& text) {
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        std::string_view line = std::string_view(text).substr(pos, end - pos);
        pos = end + 1;
        line.remove_prefix(std::min(line.find_first_not_of(" \t"), line.size()));
        if (line.starts_with("@")) return false;
    }
    return true;
}

std::size_t route_index(const Config& c, const std::string& domain) {
    for (std::size_t k = 0; k < c.routes.size(); ++k)
        if (c.routes[k].pattern.text() == domain) return k;
    BOOST_FAIL("no route " + domain);
    return 0;
}

std::string repeated(const std::string& s, int n) {
    std::string out;
    for (int k = 0; k < n; ++k) out += s;
    return out;
}

// About `n` bytes of text in words, one of them 300 bytes long, with UTF-8 at every few bytes.
std::string long_description(std::size_t n) {
    std::string out = "Partner gateway, see ticket 4711: ";
    for (int k = 0; out.size() < n; ++k)
        out += k == 7 ? std::string(150, 'x') + repeated("\xc3\xbc", 75) + " " : "Grüße-" + std::to_string(k) + " ";
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(hmailserver_import)

BOOST_AUTO_TEST_CASE(wildcards_as_hmailserver_matches_them) {
    BOOST_TEST(wildcard_match("*.example.com", "a.b.Example.COM"));
    BOOST_TEST(!wildcard_match("*.example.com", "example.com"));
    BOOST_TEST(wildcard_match("mail?.example.com", "mail1.example.com"));
    BOOST_TEST(!wildcard_match("mail?.example.com", "mail.example.com"));
    BOOST_TEST(wildcard_match("*", ""));
    BOOST_TEST(wildcard_covers("*", "*.example.com"));
    BOOST_TEST(wildcard_covers("*.com", "*.example.com"));
    BOOST_TEST(wildcard_covers("*.example.com", "mx.example.com"));
    BOOST_TEST(!wildcard_covers("*.example.com", "*.com"));
    BOOST_TEST(!wildcard_covers("?.example.com", "*.example.com"));
    BOOST_TEST(!wildcard_covers("a.example.com", "*.example.com"));
}

// CoveringNames answers as wildcard_covers over every name before, the first of them: seeded
// names of few labels (so that many cover one another), in upper and lower case, with '*' and
// '?' anywhere.
BOOST_AUTO_TEST_CASE(covering_names_agrees_with_comparing_every_earlier_name) {
    std::mt19937 random(24);
    const std::vector<std::string> parts{"a", "B", "ab", "example", "*", "?", "x?", "*b", ""};
    const auto pick = [&](std::size_t n) { return parts[random() % n]; };
    for (int round = 0; round < 20; ++round) {
        CoveringNames index;
        std::vector<std::string> names;
        for (std::uint32_t place = 0; place < 300; ++place) {
            std::string name = random() % 3 == 0 ? "*." : "";
            for (std::size_t labels = 1 + random() % 3; labels-- > 0;) name += pick(parts.size()) + (labels ? "." : "");
            if (random() % 50 == 0) name = "*";
            std::optional<std::uint32_t> expected;
            for (std::uint32_t e = 0; e < names.size() && !expected; ++e)
                if (wildcard_covers(ascii_lower(names[e]), ascii_lower(name))) expected = e;
            const std::optional<std::uint32_t> got = index.first_covering(name);
            BOOST_TEST((got == expected), name << " (round " << round << "): " << (got ? names[*got] : "none") << " vs "
                                               << (expected ? names[*expected] : "none"));
            index.add(name, place);
            names.push_back(name);
        }
    }
}

// The names hMailServer backups hold (exact names, "*.suffix", "*") are looked up, never compared
// one by one: 20,000 routes cost no comparison, and each other pattern one per later name at most.
BOOST_AUTO_TEST_CASE(covering_names_looks_routes_up) {
    CoveringNames index;
    std::uint32_t place = 0;
    for (int i = 0; i < 20000; ++i) {
        const std::string name = (i % 10 == 0 ? "*.w" : "r") + std::to_string(i) + ".example";
        BOOST_TEST(!index.first_covering(name));
        index.add(name, place++);
    }
    BOOST_TEST((index.first_covering("R17.Example") == std::optional<std::uint32_t>(17)));
    BOOST_TEST((index.first_covering("a.b.w20.example") == std::optional<std::uint32_t>(20)));
    BOOST_TEST(index.comparisons() == 0u);
    index.add("mail?.example.net", place++);
    index.add("*x*", place++);
    for (int i = 0; i < 1000; ++i) index.first_covering("s" + std::to_string(i) + ".example.net");
    BOOST_TEST(index.comparisons() == 2000u);
    index.add("*", place++);
    BOOST_TEST((index.first_covering("s1.test.net") == std::optional<std::uint32_t>(place - 1)));
    BOOST_TEST((index.first_covering("x.example") == std::optional<std::uint32_t>(place - 2)));  // "*x*" came first
}

// A backup of 20,000 routes and 2,000 ranges: every listed address is judged against the route
// that owns its domain, every overlap at equal priority is reported, and the config loads.
BOOST_AUTO_TEST_CASE(many_routes_and_ranges) {
    std::vector<HmsRoute> routes;
    std::size_t kept = 0;
    for (int k = 0; k < 18000; ++k) {
        HmsRoute r = route("r" + std::to_string(k) + ".example");
        if (k % 3 == 0) {
            r.to_all_addresses = false;
            r.addresses = {"a@" + r.name, "b@x." + r.name};  // b@: outside an exact route's domain
            ++kept;
        }
        routes.push_back(r);
    }
    for (int k = 0; k < 1000; ++k) {
        const std::string base = "w" + std::to_string(k) + ".example";
        HmsRoute w = route("*." + base);
        w.to_all_addresses = false;
        w.addresses = {"a@x." + base, "c@y.a." + base};  // c@: the more specific route's, which comes first
        ++kept;
        routes.push_back(w);
        routes.push_back(route("*.a." + base));
    }
    std::vector<HmsSecurityRange> ranges;
    for (int i = 0; i < 2000; ++i) {
        const std::string net = "10.0." + std::to_string(i / 10) + ".";
        ranges.push_back(range("R" + std::to_string(i), net + std::to_string(i % 10 * 20),
                               net + std::to_string(i % 10 * 20 + (i == 1234 ? 25 : 19)), 5, 96203));
    }
    ranges.push_back(range("v6", "::", "::ffff", 5, 96203));
    ranges.push_back(range("v6 inside", "::ff", "::fff", 5, 96203));
    const auto overlap = [](const std::string& a, const std::string& b) {
        return "range \"" + a + "\": overlaps range \"" + b + "\" at equal priority 5: which one hMailServer applies is not "
               "defined (database order); give one of them a higher priority in hMailServer and make the backup again\n";
    };
    const ImportResult i = imported(backup_with(routes, ranges));
    BOOST_TEST(lines(i.errors) == overlap("R1235", "R1234") + overlap("v6 inside", "v6"), lines(i.errors));

    ranges[1235].priority = 6;
    ranges.pop_back();
    const ImportResult ok = imported(backup_with(routes, ranges));
    BOOST_TEST(ok.routes == 20000u);
    BOOST_TEST(ok.listed_addresses == kept);
    BOOST_TEST(has_note(ok, "route \"r17997.example\": listed address \"b@x.r17997.example\" is outside the route's domain"));
    BOOST_TEST(has_note(ok, "route \"*.w999.example\": listed address \"c@y.a.w999.example\" belongs to route "
                            "\"*.a.w999.example\""));
    BOOST_TEST(ok.notes.size() == 6000u + 1000u);  // those two kinds, nothing else
    loaded(ok);
}

// Every Options bit that route-milter uses, alone, and the two default ranges.
BOOST_AUTO_TEST_CASE(options_bits) {
    struct Row {
        long long options;
        const char* allow;
        const char* require_auth;
    };
    const Row rows[] = {{1 | 64, "local-local", ""},
                        {1 | 128, "local-external", ""},
                        {1 | 256, "external-local", ""},
                        {1 | 512, "external-external", ""},
                        {1 | 8192, "", "local-local"},
                        {1 | 16384, "", "local-external"},
                        {1 | 32768, "", "external-local"},
                        {1 | 65536, "", "external-external"},
                        {1 | 2 | 8 | 1024 | 4096, "", ""},  // POP3, IMAP, anti-spam, anti-virus: not relay policy
                        {96203, "local-local local-external external-local external-external",
                         "local-local local-external external-external"},
                        {71627, "local-local local-external external-local external-external", "external-external"},
                        {960 | 122880, "", "local-local local-external external-local external-external"}};  // no SMTP bit
    for (const Row& row : rows) {
        const Config c = loaded(imported(backup_with({}, {range("r", "10.0.0.0", "10.0.0.255", 5, row.options)})));
        BOOST_REQUIRE(c.ip_ranges.size() == 1u);
        BOOST_TEST(classes(c.ip_ranges[0].allow) == row.allow, "Options " << row.options);
        BOOST_TEST(classes(c.ip_ranges[0].require_auth) == row.require_auth, "Options " << row.options);
        BOOST_TEST(c.ip_ranges[0].intervals.size() == 1u);
    }
}

BOOST_AUTO_TEST_CASE(range_without_smtp_is_reported) {
    const ImportResult r = imported(backup_with({}, {range("POP only", "10.0.0.0", "10.0.0.255", 5, 2 | 960)}));
    BOOST_TEST(has_note(r, "range \"POP only\": no SMTP option: hMailServer drops its clients without a greeting"), lines(r.notes));
    BOOST_TEST(classes(loaded(r).ip_ranges[0].allow) == "");
}

BOOST_AUTO_TEST_CASE(require_tls_and_expiry_are_written_and_reported) {
    HmsSecurityRange tls = range("tls", "10.0.0.0", "10.0.0.255", 5, 96203 | 131072);
    HmsSecurityRange soon = range("soon", "10.0.1.0", "10.0.1.255", 5, 96203);
    soon.expires = true;
    soon.expires_time = "2027-03-01 00:00:00";
    HmsSecurityRange gone = range("gone", "10.0.2.0", "10.0.2.255", 5, 96203);
    gone.expires = true;
    gone.expires_time = "2020-01-31 23:59:59";
    const ImportResult r = imported(backup_with({}, {tls, soon, gone}));
    const Config c = loaded(r);
    BOOST_TEST(c.ip_ranges.at(0).require_tls_for_auth);
    BOOST_TEST(!c.ip_ranges.at(1).require_tls_for_auth);
    BOOST_TEST(!c.ip_ranges.at(0).expires.has_value());
    BOOST_TEST(c.ip_ranges.at(1).expires.value_or(0) == 1803859200);  // 2027-03-01T00:00:00Z
    BOOST_TEST(c.ip_ranges.at(2).expires.value_or(0) == 1580515199);  // 2020-01-31T23:59:59Z
    BOOST_TEST(has_note(r, "range \"tls\": require TLS for auth: hMailServer refuses the AUTH command itself"));
    BOOST_TEST(has_note(r, "range \"soon\": expires at 2027-03-01 00:00:00, hMailServer's local time, written as UTC"));
    BOOST_TEST(has_note(r, "range \"gone\": expired at 2020-01-31 23:59:59"));
    HmsSecurityRange bad = soon;
    bad.expires_time = "2027-02-30 00:00:00";
    const ImportResult e = imported(backup_with({}, {bad}));
    BOOST_TEST(lines(e.errors).find("range \"soon\": Expires=1 but ExpiresTime") != std::string::npos, lines(e.errors));
    bad.expires_time = "1969-12-31 23:59:59";
    BOOST_TEST(lines(imported(backup_with({}, {bad})).errors).find("from 1970 on") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(range_names_and_ips) {
    const ImportResult r = imported(backup_with({}, {range("", "10.0.0.1", "10.0.0.1", 5, 96203),
                                                     range("none", "10.0.0.2", "10.0.0.2", 5, 96203),
                                                     range("twice", "10.0.0.3", "10.0.0.3", 5, 96203),
                                                     range("twice", "2001:db8::", "2001:db8::ff", 5, 96203)}));
    const Config c = loaded(r);
    BOOST_TEST(c.ip_ranges[0].name == "unnamed (hMailServer XML line 0)");
    BOOST_TEST(c.ip_ranges[1].name == "none (hMailServer XML line 0)");
    BOOST_TEST(c.ip_ranges[3].name == "twice (2)");
    BOOST_TEST(has_note(r, "range \"twice\": a second range of that name: renamed \"twice (2)\""));
    BOOST_TEST(!has_note(r, "no range covers IPv6"));
    const ImportResult v4 = imported(backup_with({}));
    BOOST_TEST(has_note(v4, "ip_ranges: no range covers IPv6"));
    const ImportResult bad = imported(backup_with({}, {range("x", "10.0.0.300", "10.0.0.1", 5, 1)}));
    BOOST_TEST(lines(bad.errors).find("range \"x\": LowerIP/UpperIP") != std::string::npos, lines(bad.errors));
    const ImportResult none = imported(backup_with({}, {}));
    BOOST_TEST(loaded(none).ip_ranges.empty());
    BOOST_TEST(has_note(none, "the backup has no IP ranges"));
}

BOOST_AUTO_TEST_CASE(equal_priority_overlap_is_an_error) {
    const ImportResult r = imported(backup_with({}, {internet(), range("LAN", "192.168.0.0", "192.168.255.255", 10, 96203)}));
    BOOST_TEST(lines(r.errors).find("range \"LAN\": overlaps range \"Internet\" at equal priority 10") != std::string::npos,
               lines(r.errors));
}

// ConnectionSecurity 0..3 and the older UseSSL="1".
BOOST_AUTO_TEST_CASE(connection_security) {
    const std::pair<long long, Security> rows[] = {
        {0, Security::none}, {1, Security::tls}, {2, Security::starttls}, {3, Security::starttls_required}};
    for (const auto& [value, security] : rows) {
        HmsRoute r = route("a.example");
        r.connection_security = value;
        r.target_port = 2525;
        const Config c = loaded(imported(backup_with({r})));
        BOOST_TEST(name_of(c.routes.at(0).security) == name_of(security), "ConnectionSecurity " << value);
        BOOST_TEST(c.routes.at(0).port == 2525);
    }
    HmsRoute old = route("a.example");
    old.use_ssl = true;
    old.connection_security = 2;  // UseSSL="1" wins, as Route::XMLLoad reads it
    BOOST_TEST(name_of(loaded(imported(backup_with({old}))).routes.at(0).security) == "tls");
    HmsRoute bad = route("a.example");
    bad.connection_security = 7;
    BOOST_TEST(lines(imported(backup_with({bad})).errors).find("ConnectionSecurity is not 0..3 (7)") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(route_fields) {
    HmsRoute r = route("Partner.Example", "MX1.Partner.Example");
    r.description = "line1\n\"quoted\" \\ back";
    r.target_port = 587;
    r.number_of_tries = 5;
    r.minutes_between_try = 30;
    r.treat_recipient_as_local = true;
    r.treat_sender_as_local = true;
    r.to_all_addresses = false;
    r.addresses = {"Alice@Partner.example", "alice@partner.EXAMPLE", "bob@partner.example"};
    r.requires_authentication = true;
    r.username = "relay";
    r.encrypted_password = encrypt_password("s3cr\"et");
    const ImportResult i = imported(backup_with({r}));
    const Config c = loaded(i);
    const RouteConfig& out = c.routes.at(0);
    BOOST_TEST(out.pattern.text() == "partner.example");
    BOOST_TEST(out.description == "line1 \"quoted\" \\ back");  // one line: see hostile_text_stays_in_its_string
    BOOST_TEST(out.hosts == std::vector<std::string>{"mx1.partner.example"});
    BOOST_TEST(out.port == 587);
    BOOST_TEST(out.retries == 4);
    BOOST_TEST(out.retry_minutes == 30);
    BOOST_TEST(name_of(out.treat_recipient_as) == "local");
    BOOST_TEST(name_of(out.treat_sender_as) == "local");
    BOOST_TEST(name_of(out.deliver_to) == "listed");
    BOOST_TEST(testing::records_of(c, 0).size() == 2u);
    BOOST_REQUIRE(out.auth != nullptr);
    BOOST_TEST(out.auth->user == "relay");
    BOOST_TEST(out.auth->password == "s3cr\"et");
    BOOST_TEST(i.routes_with_passwords == std::vector<std::string>{"Partner.Example"});
    for (const std::string& n : i.notes) BOOST_TEST(n.find("s3cr") == std::string::npos);
    BOOST_TEST(name_of(c.scope) == "all");
    BOOST_TEST(c.local_domains == std::vector<std::string>{"corp.example"});
}

BOOST_AUTO_TEST_CASE(hosts_etrn_and_retries) {
    HmsRoute r = route("a.example", "mx1.a.example | 192.0.2.7|[2001:db8::1]");
    r.description = "etrn: hold for the branch office";
    r.number_of_tries = 0;
    r.minutes_between_try = 0;
    const ImportResult i = imported(backup_with({r}));
    const Config c = loaded(i);
    BOOST_TEST((c.routes.at(0).hosts == std::vector<std::string>{"mx1.a.example", "[192.0.2.7]", "[2001:db8::1]"}));
    BOOST_TEST(c.routes.at(0).etrn);
    HmsRoute wild = route("*.b.example");
    wild.description = "ETRN";
    const ImportResult w = imported(backup_with({wild}));
    BOOST_TEST(!loaded(w).routes.at(0).etrn);
    BOOST_TEST(has_note(w, "route \"*.b.example\": ETRN description on a wildcard route"), lines(w.notes));
    HmsRoute plain = route("c.example");
    plain.description = "Etr";
    BOOST_TEST(!loaded(imported(backup_with({plain}))).routes.at(0).etrn);
    BOOST_TEST(i.config_text.find("retries = 0; retry_minutes = 1;") != std::string::npos);
    BOOST_TEST(has_note(i, "route \"a.example\": NumberOfTries 0: imported as retries = 0"));
    BOOST_TEST(has_note(i, "route \"a.example\": MinutesBetweenTry 0: imported as retry_minutes = 1"));
    HmsRoute bad = route("b.example", "good.example|bad host");
    BOOST_TEST(lines(imported(backup_with({bad})).errors).find("TargetHost: not a host name or IP address (\"bad host\")") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(unmappable_patterns_are_reported) {
    const ImportResult i = imported(backup_with({route("mail?.example.com"), route("mail*.example.org"), route("*example.net"),
                                                 route("b.example")}));
    for (const char* name : {"mail?.example.com", "mail*.example.org", "*example.net"})
        BOOST_TEST(has_note(i, "route \"" + std::string(name) + "\": written commented out: route-milter's route domains are"),
                   name << "\n" << lines(i.notes));
    const Config c = loaded(i);
    BOOST_REQUIRE(c.routes.size() == 1u);
    BOOST_TEST(c.routes[0].pattern.text() == "b.example");
    BOOST_TEST(i.routes_commented_out == 3u);
    BOOST_TEST(i.config_text.find("# - route \"mail?.example.com\": route-milter's") != std::string::npos);
}

// hMailServer takes the first route in name order: "*" and "*.x" sort before letters.
BOOST_AUTO_TEST_CASE(route_order_differences_are_reported) {
    const ImportResult i =
        imported(backup_with({route("mx.example.com"), route("*.example.com"), route("*.sub.example.com"),
                              route("*.a.example.org"), route("*.example.org"), route("other.example")}));
    BOOST_TEST(has_note(i, "route \"mx.example.com\": written commented out: never reached in hMailServer: route "
                            "\"*.example.com\" comes first alphabetically and matches every domain this one matches"),
               lines(i.notes));
    BOOST_TEST(has_note(i, "route \"*.sub.example.com\": written commented out: never reached in hMailServer: route \"*.example.com\""));
    BOOST_TEST(!has_note(i, "route \"*.a.example.org\""));  // the more specific one comes first: same choice
    const Config c = loaded(i);
    std::vector<std::string> names;
    for (const RouteConfig& r : c.routes) names.push_back(r.pattern.text());
    BOOST_TEST((names == std::vector<std::string>{"*.a.example.org", "*.example.com", "*.example.org", "other.example"}));
    const ImportResult star = imported(backup_with({route("a.example"), route("*")}));
    BOOST_TEST(has_note(star, "route \"a.example\": written commented out: never reached in hMailServer: route \"*\" comes first "
                              "alphabetically and matches every domain;"));
    const ImportResult dup = imported(backup_with({route("a.example"), route("A.Example")}));
    BOOST_TEST(dup.routes == 1u);
    BOOST_TEST(has_note(dup, "route \"A.Example\": written commented out: never reached in hMailServer: route \"a.example\""));
}

BOOST_AUTO_TEST_CASE(auth_without_host) {
    HmsRoute r = route("a.example", "");
    r.requires_authentication = true;
    r.username = "u";
    r.encrypted_password = encrypt_password("pw");
    r.target_port = 587;
    const ImportResult i = imported(backup_with({r}));
    BOOST_TEST(has_note(i, "route \"a.example\": RequiresAuthentication without TargetHost: hMailServer delivers by MX lookup"));
    const Config c = loaded(i);
    BOOST_TEST(c.routes.at(0).auth == nullptr);
    BOOST_TEST(c.routes.at(0).hosts.empty());
    BOOST_TEST(i.routes_with_passwords.empty());
    HmsRoute bad = route("b.example");
    bad.requires_authentication = true;
    bad.username = "u";
    bad.encrypted_password = "zz";
    const ImportResult e = imported(backup_with({bad}));
    BOOST_TEST(lines(e.errors).find("route \"b.example\": Password: encrypted password is 2 hex digits") != std::string::npos,
               lines(e.errors));
    HmsRoute nouser = route("c.example");
    nouser.requires_authentication = true;
    BOOST_TEST(has_note(imported(backup_with({nouser})), "route \"c.example\": RequiresAuthentication with an empty Username"));
}

BOOST_AUTO_TEST_CASE(listed_addresses_hmailserver_never_matched) {
    HmsRoute wild = route("*.example.com");
    wild.to_all_addresses = false;
    wild.addresses = {"a@x.example.com", "b@other.example", "c@corp.example", "d@taken.example.com", "not an address"};
    HmsRoute taken = route("taken.example.com");  // sorts after "*.example.com": shadowed, so the wildcard keeps d@
    HmsRoute empty = route("empty.example");
    empty.to_all_addresses = false;
    HmsRoute all = route("all.example");
    all.addresses = {"x@all.example"};
    const ImportResult i = imported(backup_with({wild, taken, empty, all}, {my_computer(), internet()},
                                                {domain("corp.example"), domain("old.example", false, {"old-alias.example"})}));
    BOOST_TEST(has_note(i, "listed address \"b@other.example\" is outside the route's domain"), lines(i.notes));
    BOOST_TEST(has_note(i, "listed address \"c@corp.example\" is outside the route's domain"));
    BOOST_TEST(has_note(i, "listed address \"not an address\" is not an address"));
    BOOST_TEST(has_note(i, "route \"empty.example\": written commented out: it delivers to listed addresses only and lists none"));
    BOOST_TEST(has_note(i, "route \"all.example\": 1 listed address(es) ignored"));
    BOOST_TEST(has_note(i, "domain \"old.example\": inactive: hMailServer refuses its recipients (550 Domain has been "
                           "disabled.); not a local domain here, so its mail is judged as external (aliases "
                           "old-alias.example too)"));
    const Config c = loaded(i);
    BOOST_REQUIRE(c.routes.size() == 2u);
    BOOST_TEST(testing::records_of(c, 0).size() == 2u);
}

BOOST_AUTO_TEST_CASE(wildcard_list_entries_in_local_domains_are_dropped) {
    HmsRoute star = route("*");
    star.to_all_addresses = false;
    star.addresses = {"a@corp.example", "b@far.example"};
    const ImportResult i = imported(backup_with({star}));
    BOOST_TEST(has_note(i, "listed address \"a@corp.example\" is in a local domain"), lines(i.notes));
    BOOST_TEST(testing::records_of(loaded(i), 0).size() == 1u);
}

BOOST_AUTO_TEST_CASE(route_for_a_local_domain_is_reported) {
    const ImportResult i = imported(backup_with({route("Corp.Example"), route("far.example")}));
    BOOST_TEST(has_note(i, "route \"Corp.Example\": its domain is one of this server's domains"), lines(i.notes));
    BOOST_TEST(!has_note(i, "route \"far.example\""));
    BOOST_TEST(loaded(i).routes.size() == 2u);
}

BOOST_AUTO_TEST_CASE(domains_and_aliases) {
    const ImportResult i = imported(backup_with({}, {internet()},
                                                {domain("Corp.Example", true, {"alias.example", "corp.example"}),
                                                 domain("bücher.example"), domain("off.example", false)}));
    const Config c = loaded(i);
    BOOST_TEST((c.local_domains == std::vector<std::string>{"corp.example", "alias.example", "xn--bcher-kva.example"}));
    BOOST_TEST(i.local_domains == 3u);
    const ImportResult bad = imported(backup_with({}, {internet()}, {domain("not a domain")}));
    BOOST_TEST(lines(bad.errors).find("domain \"not a domain\": not a domain name") != std::string::npos);
}

// hMailServer compares names as they are (and without regard to case): a U-label name typed
// decomposed or in another spelling of its A-labels is imported in the one spelling route-milter
// and Postfix's maps take, with a note; upper case is that spelling already.
BOOST_AUTO_TEST_CASE(idn_names_are_imported_in_the_spelling_the_maps_hold) {
    const std::string nfd = "bu\xcc\x88" "cher.example";  // u + combining diaeresis
    HmsRoute listed = route(nfd, "MX." + nfd);
    listed.to_all_addresses = false;
    listed.addresses = {"Leser@" + nfd, "hans@B\xc3\x9c" "CHER.example"};
    HmsRoute wild = route("*.\xef\xbd\x8d\xc3\xbc" "ller.example");  // fullwidth m
    const ImportResult i = imported(backup_with({listed, wild}, {my_computer(), internet()},
                                                {domain("D\xc3\x96M\xc3\x84NE.example", true, {"alias." + nfd})}));
    for (const std::string& note : {"route \"" + nfd + "\": name \"" + nfd + "\" written as \"bücher.example\"",
                                   "TargetHost \"mx." + nfd + "\" written as \"mx.bücher.example\"",
                                   "listed address \"Leser@" + nfd + "\": domain \"" + nfd + "\" written as \"bücher.example\"",
                                   std::string("route \"*.\xef\xbd\x8d\xc3\xbc" "ller.example\": name \"*.\xef\xbd\x8d\xc3\xbc"
                                               "ller.example\" written as \"*.müller.example\""),
                                   "\"alias." + nfd + "\" written as \"alias.bücher.example\""})
        BOOST_TEST(has_note(i, note), note << "\n" << lines(i.notes));
    BOOST_TEST(!has_note(i, "written as \"d\xc3\xb6m\xc3\xa4ne"));  // upper case: the same spelling
    BOOST_TEST(!has_note(i, "hans@"));
    const Config c = loaded(i);
    BOOST_REQUIRE(c.routes.size() == 2u);
    BOOST_TEST(c.routes[0].pattern.text() == "*.xn--mller-kva.example");
    BOOST_TEST(c.routes[1].pattern.text() == "xn--bcher-kva.example");
    BOOST_TEST(testing::records_of(c, 1).size() == 2u);
    BOOST_TEST((c.local_domains == std::vector<std::string>{"xn--dmne-moa0i.example", "alias.xn--bcher-kva.example"}));
    BOOST_TEST(i.config_text.find("addresses = [ \"leser@bücher.example\", \"hans@b\xc3\x9c" "cher.example\" ];") !=
                   std::string::npos,
               i.config_text);
}

// A backup whose text could bend the config: names and descriptions are quoted, comments one line,
// and a control character (a log line's end) in a range name or description becomes a blank.
BOOST_AUTO_TEST_CASE(hostile_text_stays_in_its_string) {
    HmsRoute r = route("a.example");
    r.description = "x\";\n}; scope = \"routes\"; #";
    HmsSecurityRange evil = range("r\n scope = \"routes\";", "10.0.0.0", "10.0.0.255", 5, 96203);
    const ImportResult i = imported(backup_with({r, route("b?\n scope = \"routes\";")}, {evil}));
    const Config c = loaded(i);
    BOOST_TEST(name_of(c.scope) == "all");
    BOOST_TEST(c.routes.at(0).description == "x\"; }; scope = \"routes\"; #");
    BOOST_TEST(c.ip_ranges.at(0).name == "r  scope = \"routes\";");
    BOOST_TEST(has_note(i, "range \"r? scope = \"routes\";\": control characters in the name replaced by blanks"),
               lines(i.notes));
    BOOST_TEST(has_note(i, "route \"a.example\": control characters in the description replaced by blanks"),
               lines(i.notes));
}

// hMailServer's XML carries a newline as &#10;: the imported config loads, every name one line.
BOOST_AUTO_TEST_CASE(character_references_in_a_backup_give_a_config_that_loads) {
    const std::string xml =
        "<?xml version=\"1.0\"?>\n<Backup>\n<BackupInformation Mode=\"3\" Version=\"5.6.9\"/>\n"
        "<Domains><Domain Name=\"corp.example\" Active=\"1\"/></Domains>\n<SecurityRanges>\n"
        "<SecurityRange Name=\"Office&#10;route-milter[1]: forged\" LowerIP=\"10.0.0.0\" UpperIP=\"10.0.0.255\" "
        "Priority=\"20\" Options=\"96203\" Expires=\"0\"/>\n"
        "<SecurityRange Name=\"Office&#13;route-milter[1]: forged\" LowerIP=\"10.0.1.0\" UpperIP=\"10.0.1.255\" "
        "Priority=\"20\" Options=\"96203\" Expires=\"0\"/>\n"
        "<SecurityRange Name=\"Internet\" LowerIP=\"0.0.0.0\" UpperIP=\"255.255.255.255\" Priority=\"10\" "
        "Options=\"96203\" Expires=\"0\"/>\n</SecurityRanges>\n<Routes>\n"
        "<Route Name=\"partner.example\" Description=\"line 1&#13;&#10;line 2&#9;&#x85;end\" "
        "TargetHost=\"mx.partner.example\" TargetPort=\"25\" NumberOfTries=\"4\" MinutesBetweenTry=\"60\" "
        "ToAllAddresses=\"1\"/>\n</Routes>\n</Backup>\n";
    const BackupResult b = read_backup_bytes(xml, "backup.xml");
    BOOST_REQUIRE_MESSAGE(b.backup.has_value(), b.error);
    BOOST_REQUIRE(b.backup->security_ranges.at(0).name == "Office\nroute-milter[1]: forged");
    const ImportResult i = imported(*b.backup);
    const Config c = loaded(i);
    BOOST_TEST(c.ip_ranges.at(0).name == "Office route-milter[1]: forged");
    BOOST_TEST(c.ip_ranges.at(1).name == "Office route-milter[1]: forged (2)");  // the same once blanked
    BOOST_TEST(c.routes.at(0).description == "line 1  line 2  end");
}

// hMailServer's order at RCPT: route list, then the range's class, then SMTP AUTH; what it would
// answer for each case, through route-milter's own decide().
BOOST_AUTO_TEST_CASE(decisions_match_hmailserver) {
    HmsRoute backup_mx = route("backup.example");
    backup_mx.treat_recipient_as_local = true;
    backup_mx.to_all_addresses = false;
    backup_mx.addresses = {"Alice@Backup.Example"};
    HmsRoute smarthost = route("*.partner.example");
    HmsRoute trusted = route("trusted.example");
    trusted.treat_sender_as_local = true;
    HmsSecurityRange office = range("Office", "192.0.2.0", "192.0.2.255", 20, 1 | 64 | 128 | 256 | 512);  // no AUTH
    HmsSecurityRange blocked = range("Blocked", "198.51.100.0", "198.51.100.255", 40, 2);              // no SMTP
    HmsSecurityRange old = range("Old partner", "192.0.2.128", "192.0.2.255", 25, 1 | 64 | 128 | 256 | 512);
    old.expires = true;
    old.expires_time = "2020-01-01 00:00:00";  // expired: the Office range decides again
    HmsSecurityRange v6 = range("v6 LAN", "2001:db8::", "2001:db8::ffff", 20, 96203 | 131072);
    const auto policy = policy_of(imported(backup_with({backup_mx, smarthost, trusted},
                                                       {my_computer(), internet(), office, blocked, old, v6})));
    struct Case {
        const char* client;
        const char* from;
        const char* to;
        bool auth;
        Rule rule;
        bool tls = false;
    };
    const Case cases[] = {
        {"203.0.113.5", "<x@far.example>", "<alice@backup.example>", false, Rule::no_objection},  // E2L allowed, no AUTH
        {"203.0.113.5", "<x@far.example>", "<carol@backup.example>", false, Rule::not_listed},    // 550 not in route list
        {"203.0.113.5", "<x@far.example>", "<carol@backup.example>", true, Rule::not_listed},     // list first, AUTH no help
        {"203.0.113.5", "<x@far.example>", "<a@b.partner.example>", false, Rule::auth_required},  // E2E needs AUTH
        {"203.0.113.5", "<x@far.example>", "<a@b.partner.example>", true, Rule::no_objection},
        {"203.0.113.5", "<x@far.example>", "<u@corp.example>", false, Rule::no_objection},        // E2L
        {"203.0.113.5", "<me@corp.example>", "<u@corp.example>", false, Rule::auth_required},     // L2L needs AUTH
        {"203.0.113.5", "<me@trusted.example>", "<u@corp.example>", false, Rule::auth_required},  // sender local by route
        {"127.0.0.1", "<x@far.example>", "<a@far.example>", false, Rule::auth_required},          // My computer: E2E AUTH
        {"127.0.0.1", "<me@corp.example>", "<a@far.example>", false, Rule::no_objection},         // L2E free there
        {"192.0.2.9", "<x@far.example>", "<a@far.example>", false, Rule::no_objection},           // Office: open relay
        {"198.51.100.7", "<x@far.example>", "<u@corp.example>", true, Rule::not_allowed},         // no SMTP: refused
        {"192.0.2.200", "<x@far.example>", "<a@far.example>", false, Rule::no_objection},         // expired: Office
        {"2001:db8::1", "<x@far.example>", "<u@corp.example>", false, Rule::no_objection},        // v6 LAN: E2L
        {"2001:db8::1", "<x@far.example>", "<a@far.example>", true, Rule::tls_required},          // AUTH without TLS
        {"2001:db8::1", "<x@far.example>", "<a@far.example>", true, Rule::no_objection, true},    // AUTH with TLS
        {"2001:db9::1", "<x@far.example>", "<u@corp.example>", false, Rule::not_allowed},         // no range covers it
    };
    for (const Case& k : cases) {
        const Decision d = policy->decide(Query{parse_ip_address(k.client), k.auth, k.from, k.to, k.tls, now});
        BOOST_TEST(name_of(d.rule) == name_of(k.rule), k.client << " " << k.from << " -> " << k.to << (k.auth ? " (auth)" : ""));
    }
}

// hMailServer takes routes in name order, so "*" shadows every route after it. Each of those is
// written whole, commented out, with why; deleting its "#| " gives a config that checks.
BOOST_AUTO_TEST_CASE(routes_never_reached_are_written_commented_out_whole) {
    HmsRoute star = route("*", "smarthost.example.net");
    HmsRoute a = route("a.example", "mx.a.example|192.0.2.1");
    a.to_all_addresses = false;
    for (int k = 0; k < 300; ++k) a.addresses.push_back("User" + std::to_string(k) + "@A.example");
    a.requires_authentication = true;
    a.username = "relay";
    a.encrypted_password = encrypt_password("s3cret-pw");
    a.connection_security = 3;
    a.target_port = 587;
    a.description = long_description(1500);
    HmsRoute b = route("b.example", "");
    b.to_all_addresses = false;
    b.addresses = {"x@b.example", "Y@B.example", "y@b.example", "not an address", "z@elsewhere.example"};
    const ImportResult i = imported(backup_with({a, b, star}));
    BOOST_TEST(i.routes == 1u);
    BOOST_TEST(i.routes_commented_out == 2u);
    for (const char* name : {"a.example", "b.example"})
        BOOST_TEST(has_note(i, "route \"" + std::string(name) + "\": written commented out: never reached in hMailServer: "
                               "route \"*\" comes first alphabetically and matches every domain;"),
                   name << "\n" << lines(i.notes));
    BOOST_TEST((i.routes_with_passwords == std::vector<std::string>{"a.example"}));
    const Config live = loaded(i);
    BOOST_REQUIRE(live.routes.size() == 1u);
    BOOST_TEST(live.routes[0].pattern.text() == "*");
    const std::string comments = comment_text(i.config_text);
    BOOST_TEST(comments.find("hMailServer route \"b.example\", written commented out: never reached in hMailServer: "
                             "route \"*\" comes first alphabetically and matches every domain") != std::string::npos,
               comments);
    BOOST_TEST(comments.find("listed address \"not an address\" is not an address: dropped") != std::string::npos);
    BOOST_TEST(comments.find("listed address \"z@elsewhere.example\" is outside the route's domain") != std::string::npos);
    BOOST_TEST(comments.find("listed address \"y@b.example\" is listed twice") != std::string::npos);

    const ConfigResult ua = load_config_text(uncommented(i.config_text, "a.example"), "imported.conf");
    BOOST_REQUIRE_MESSAGE(ua.config.has_value(), testing::errors_text(ua) + uncommented(i.config_text, "a.example"));
    BOOST_REQUIRE(ua.config->routes.size() == 2u);
    const auto ka = static_cast<std::uint32_t>(route_index(*ua.config, "a.example"));
    const RouteConfig& ra = ua.config->routes[ka];
    BOOST_TEST(ra.description == a.description);
    BOOST_TEST(testing::records_of(*ua.config, ka).size() == 300u);
    BOOST_TEST((ra.hosts == std::vector<std::string>{"mx.a.example", "[192.0.2.1]"}));
    BOOST_TEST(ra.port == 587);
    BOOST_TEST(name_of(ra.security) == "starttls-required");
    BOOST_REQUIRE(ra.auth != nullptr);
    BOOST_TEST(ra.auth->password == "s3cret-pw");

    const ConfigResult ub = load_config_text(uncommented(i.config_text, "b.example"), "imported.conf");
    BOOST_REQUIRE_MESSAGE(ub.config.has_value(), testing::errors_text(ub));
    const auto kb = static_cast<std::uint32_t>(route_index(*ub.config, "b.example"));
    BOOST_TEST(testing::records_of(*ub.config, kb).size() == 2u);
    BOOST_TEST(ub.config->routes[kb].hosts.empty());

    const PolicyResult both = load_policy_text(all_uncommented(i.config_text), "imported.conf");
    BOOST_TEST(both.policy != nullptr, testing::errors_text(both));
}

// A route written commented out that would not check as it is says what to change first.
BOOST_AUTO_TEST_CASE(commented_out_routes_say_what_to_change_before_uncommenting) {
    HmsRoute star = route("*");
    star.to_all_addresses = false;
    star.addresses = {"a@x.example.com", "b@far.example"};
    HmsRoute wild = route("*.example.com");  // after "*": never reached, and takes a@x.example.com from it
    HmsRoute odd = route("mail?.example.org");
    HmsRoute bad = route("pw.example");
    bad.requires_authentication = true;
    bad.username = "u";
    bad.encrypted_password = "zz";
    HmsRoute unnamed = route("");
    const ImportResult i = imported(backup_with({star, wild, odd, bad, unnamed}));
    BOOST_TEST(i.errors.empty(), lines(i.errors));  // a broken route that is commented out stops nothing
    BOOST_TEST(i.routes_commented_out == 4u);
    loaded(i);
    BOOST_TEST(has_note(i, "route \"*.example.com\": before uncommenting: it takes the domains of addresses another "
                           "route lists; remove them there: a@x.example.com (route \"*\")"),
               lines(i.notes));
    BOOST_TEST(has_note(i, "route \"mail?.example.org\": before uncommenting: domain: give it one route-milter takes"));
    BOOST_TEST(has_note(i, "route \"pw.example\": before uncommenting: Password: encrypted password is 2 hex digits"));
    BOOST_TEST(has_note(i, "route \"\": written commented out: no domain name"));
    const std::string comments = comment_text(i.config_text);
    BOOST_TEST(comments.find("before uncommenting: it takes the domains of addresses another route lists") !=
               std::string::npos);
    // As the comment says: without that address in "*", the wildcard checks once uncommented.
    std::string fixed = uncommented(i.config_text, "*.example.com");
    const std::size_t at = fixed.find("\"a@x.example.com\", ");
    BOOST_REQUIRE(at != std::string::npos);
    BOOST_REQUIRE(load_policy_text(fixed, "imported.conf").policy == nullptr);
    fixed.erase(at, std::string("\"a@x.example.com\", ").size());
    const PolicyResult p = load_policy_text(fixed, "imported.conf");
    BOOST_TEST(p.policy != nullptr, testing::errors_text(p) + fixed);
    // The one with a bad password checks, without auth.
    const ConfigResult pw = load_config_text(uncommented(i.config_text, "pw.example"), "imported.conf");
    BOOST_REQUIRE_MESSAGE(pw.config.has_value(), testing::errors_text(pw));
    BOOST_TEST(pw.config->routes.at(route_index(*pw.config, "pw.example")).auth == nullptr);
}

// hMailServer's description and every note are written whole, however long.
BOOST_AUTO_TEST_CASE(notes_and_descriptions_are_written_whole) {
    HmsRoute r = route("corp.example");  // a local domain: one of the longest notes
    r.description = long_description(1200);
    r.addresses = {"unused@corp.example"};
    const ImportResult i = imported(backup_with({r}));
    const Config c = loaded(i);
    BOOST_TEST(c.routes.at(0).description == r.description);
    const std::string comments = comment_text(i.config_text);
    const std::string subject = "route \"corp.example\": ";
    std::size_t longest = 0, route_notes = 0;
    for (const std::string& n : i.notes) {
        if (!n.starts_with(subject)) continue;
        ++route_notes;
        longest = std::max(longest, n.size());
        const std::string text = n.substr(subject.size());
        BOOST_TEST(comments.find(text) != std::string::npos, text << "\n" << comments);
    }
    BOOST_TEST(route_notes == 2u, lines(i.notes));
    BOOST_TEST(longest > 300u);  // the local domain's
    BOOST_TEST(comments.find("unused while it delivers to all: unused@corp.example") != std::string::npos, comments);
}

// A hostile description, address or name cannot leave its string or comment, live or
// commented out, nor once uncommented: newlines, a comment's end, a string's end, braces and
// @include, in the description, a listed address and a route's name.
BOOST_AUTO_TEST_CASE(a_hostile_note_cannot_leave_its_comment) {
    const std::string hostile = "x\n}; scope = \"routes\"; */ \";\n@include \"/etc/passwd\"\r\n@include \"y\" } "
                                "\xe2\x80\xa8@include \"z\"\n/* #";
    HmsRoute star = route("*");
    star.description = hostile;
    HmsRoute a = route("a.example");
    a.description = hostile + std::string(1200, 'z') + hostile;
    a.to_all_addresses = false;
    a.addresses = {"u@a.example", "v@a.example\n@include \"/etc/passwd\"", hostile};
    HmsRoute all = route("all.example");
    all.addresses = {hostile};
    HmsRoute odd = route("m?\n@include \"/etc/passwd\"\n}; scope = \"routes\";");
    const ImportResult i = imported(backup_with({star, a, all, odd}));
    BOOST_TEST(no_directive(i.config_text), i.config_text);
    BOOST_TEST(no_directive(all_uncommented(i.config_text)));
    const Config c = loaded(i);
    BOOST_TEST(name_of(c.scope) == "all");
    BOOST_REQUIRE(c.routes.size() == 1u);
    BOOST_TEST(c.routes[0].description == without_controls(hostile));
    const ConfigResult ua = load_config_text(uncommented(i.config_text, "a.example"), "imported.conf");
    BOOST_REQUIRE_MESSAGE(ua.config.has_value(), testing::errors_text(ua));
    BOOST_TEST(name_of(ua.config->scope) == "all");
    const auto k = static_cast<std::uint32_t>(route_index(*ua.config, "a.example"));
    BOOST_TEST(ua.config->routes[k].description == without_controls(a.description));
    BOOST_TEST(testing::records_of(*ua.config, k).size() == 1u);
    // The odd name is kept in its string: uncommented, the loader names it, and nothing else.
    const ConfigResult uo = load_config_text(uncommented(i.config_text, without_controls(odd.name)),
                                             "imported.conf");
    BOOST_TEST(!uo.config.has_value());
    BOOST_TEST(uo.errors.size() == 1u, testing::errors_text(uo));
    BOOST_TEST(testing::errors_text(uo).find(".domain") != std::string::npos, testing::errors_text(uo));
}

// With no live route, the first route written commented out has no comma line, the others one,
// which is left out when that one is uncommented alone (as the header says).
BOOST_AUTO_TEST_CASE(commented_out_routes_without_a_live_route) {
    HmsRoute star = route("*");
    star.to_all_addresses = false;  // and lists none: written commented out, as is the route it shadows
    const ImportResult i = imported(backup_with({route("a.example"), star}));
    BOOST_TEST(i.routes == 0u);
    BOOST_TEST(i.routes_commented_out == 2u);
    BOOST_TEST(loaded(i).routes.empty());
    std::string a = uncommented(i.config_text, "a.example");
    const std::size_t comma = a.find("\n  ,\n");
    BOOST_REQUIRE(comma != std::string::npos);
    BOOST_TEST(!load_config_text(a, "imported.conf").config.has_value());
    a.erase(comma, 4);
    const ConfigResult c = load_config_text(a, "imported.conf");
    BOOST_REQUIRE_MESSAGE(c.config.has_value(), testing::errors_text(c) + a);
    BOOST_TEST(c.config->routes.size() == 1u);
    BOOST_TEST(uncommented(i.config_text, "*").find("\n  ,\n") == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
