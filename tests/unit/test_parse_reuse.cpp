// A reload whose config files (the main file and its @includes: names, modes, bytes) are the
// running config's takes the settings and routes over instead of parsing them again; only the
// address files are looked at. What it gives must be what a parse gives, field for field, and a
// refusal must read word for word as a first load words it.
#define BOOST_TEST_DYN_LINK
#include "route_milter/config/load_policy.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>

using namespace route_milter;
using testing::ConfigDir;
using testing::rule_for;
using testing::errors_text;

namespace {

// A config with a bit of everything a parse produces: an @include, ranges, local domains, a
// route with hosts and auth, exact and wildcard routes with address files, a warn-mode route.
struct Mixed {
    ConfigDir dir;
    std::string main;

    Mixed() {
        dir.write("exact.list", "# exported\nalice@exact.test\nBob@Exact.Test\n\n");
        dir.write("wild.list", "carol@a.wild.test\ndave@b.wild.test\n");
        dir.write("ranges.conf",
                  "ip_ranges = (\n"
                  "  { name = \"Office\"; cidr = [ \"192.0.2.0/24\" ]; priority = 20;\n"
                  "    allow = [ \"local-local\", \"local-external\", \"external-local\" ];\n"
                  "    require_auth = [ \"local-external\" ]; expires = \"2099-01-01T00:00:00Z\"; },\n"
                  "  { name = \"Internet\"; cidr = [ \"0.0.0.0/0\", \"::/0\" ]; priority = 10;\n"
                  "    allow = [ \"external-local\" ]; }\n"
                  ");\n");
        main = dir.write("main.conf",
                         "scope = \"all\";\n"
                         "local_domains = [ \"local.test\", \"Other.Test\" ];\n"
                         "metrics = { listen = \"inet:9199@127.0.0.1\"; };\n"
                         "@include \"ranges.conf\"\n"
                         "routes = (\n"
                         "  { domain = \"exact.test\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
                         "    addresses_file = \"exact.list\"; },\n"
                         "  { domain = \"relay.test\"; description = \"via the gateway\";\n"
                         "    host = [ \"gw1.relay.test\", \"[192.0.2.9]\" ]; port = 587; security = \"starttls\";\n"
                         "    auth = { user = \"relay\"; password = \"s3cret\"; }; retries = 2; retry_minutes = 15; },\n"
                         "  { domain = \"*.wild.test\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
                         "    addresses_file = \"" + dir.path + "/wild.list\"; mode = \"warn\"; },\n"
                         "  { domain = \"plain.test\"; treat_recipient_as = \"local\"; },\n"
                         "  { domain = \"taken.wild.test\"; treat_recipient_as = \"local\"; }\n"
                         ");\n",
                         0600);
        // Whatever is written from now on gets a newer change time, however coarse the clock.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
};

PolicyResult first_load(const std::string& main) {
    return load_policy_file(main, UserCheck::skip, ListedAddressUse::into_index, nullptr, 0);
}

PolicyResult reload(const std::string& main, const PolicyResult& running) {
    return load_policy_file(main, UserCheck::skip, ListedAddressUse::into_index, running.policy.get(), 0);
}

// Every field a parse sets, compared one by one (what the loader adds on top of a parse, like
// the index's kept parts and unread files, is not the parse's).
void check_same_config(const Config& a, const Config& b) {
    BOOST_TEST(a.file == b.file);
    BOOST_TEST(a.digest == b.digest);
    BOOST_TEST((a.text_identity == b.text_identity));
    BOOST_TEST(a.parse_reusable == b.parse_reusable);
    BOOST_REQUIRE(a.files.size() == b.files.size());
    for (std::size_t i = 0; i < a.files.size(); ++i) BOOST_TEST(a.files[i] == b.files[i]);
    BOOST_TEST((a.milter.socket == b.milter.socket));
    BOOST_TEST(a.milter.user == b.milter.user);
    BOOST_TEST(a.milter.timeout == b.milter.timeout);
    BOOST_REQUIRE(a.metrics.has_value() == b.metrics.has_value());
    if (a.metrics) BOOST_TEST(metrics_url(*a.metrics) == metrics_url(*b.metrics));
    BOOST_TEST((a.scope == b.scope));
    BOOST_TEST((a.mode == b.mode));
    BOOST_TEST(a.local_domains == b.local_domains);
    BOOST_TEST(a.ip_ranges_are_defaults == b.ip_ranges_are_defaults);
    BOOST_REQUIRE(a.ip_ranges.size() == b.ip_ranges.size());
    for (std::size_t i = 0; i < a.ip_ranges.size(); ++i) {
        const IpRangeConfig& x = a.ip_ranges[i];
        const IpRangeConfig& y = b.ip_ranges[i];
        BOOST_TEST(x.name == y.name);
        BOOST_TEST(x.priority == y.priority);
        BOOST_TEST(x.intervals.size() == y.intervals.size());
        BOOST_TEST((x.allow == y.allow));
        BOOST_TEST((x.require_auth == y.require_auth));
        BOOST_TEST((x.expires == y.expires));
        BOOST_TEST(x.line == y.line);
        BOOST_TEST(x.file == y.file);
    }
    BOOST_REQUIRE(a.routes.size() == b.routes.size());
    for (std::size_t i = 0; i < a.routes.size(); ++i) {
        const RouteConfig& x = a.routes[i];
        const RouteConfig& y = b.routes[i];
        BOOST_TEST_CONTEXT("route " << i) {
            BOOST_TEST(x.pattern.text() == y.pattern.text());
            BOOST_TEST(x.description == y.description);
            BOOST_TEST(x.hosts == y.hosts);
            BOOST_REQUIRE(bool(x.auth) == bool(y.auth));
            if (x.auth) BOOST_TEST((x.auth->user == y.auth->user && x.auth->password == y.auth->password));
            BOOST_REQUIRE(x.addresses_file.has_value() == y.addresses_file.has_value());
            if (x.addresses_file) {
                BOOST_TEST(x.addresses_file->file == y.addresses_file->file);
                BOOST_TEST(x.addresses_file->count == y.addresses_file->count);
                BOOST_TEST(x.addresses_file->line == y.addresses_file->line);
                BOOST_TEST(x.addresses_file->config_file == y.addresses_file->config_file);
            }
            BOOST_TEST(x.port == y.port);
            BOOST_TEST(x.retries == y.retries);
            BOOST_TEST(x.retry_minutes == y.retry_minutes);
            BOOST_TEST(x.line == y.line);
            BOOST_TEST(x.file == y.file);
            BOOST_TEST(x.listed_place == y.listed_place);
            BOOST_TEST((x.security == y.security));
            BOOST_TEST(x.tls_verify == y.tls_verify);
            BOOST_TEST(x.etrn == y.etrn);
            BOOST_TEST((x.treat_sender_as == y.treat_sender_as));
            BOOST_TEST((x.treat_recipient_as == y.treat_recipient_as));
            BOOST_TEST((x.deliver_to == y.deliver_to));
            BOOST_TEST((x.mode == y.mode));
            BOOST_TEST(a.listed.listed_count(static_cast<std::uint32_t>(i)) ==
                       b.listed.listed_count(static_cast<std::uint32_t>(i)));
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reload_reuses_parse)

BOOST_AUTO_TEST_CASE(unchanged_config_files_are_not_parsed_and_give_what_a_parse_gives) {
    Mixed c;
    const PolicyResult first = first_load(c.main);
    BOOST_REQUIRE_MESSAGE(first.policy != nullptr, errors_text(first));
    BOOST_TEST(!first.policy->config().parse_reused);
    BOOST_TEST(first.policy->config().parse_reusable);

    const PolicyResult same = reload(c.main, first);
    BOOST_REQUIRE_MESSAGE(same.policy != nullptr, errors_text(same));
    BOOST_TEST(same.policy->config().parse_reused);
    check_same_config(same.policy->config(), first.policy->config());
    BOOST_TEST(rule_for(*same.policy, "bob@exact.test") == "no-objection");
    BOOST_TEST(rule_for(*same.policy, "erin@exact.test") == "not-listed");

    // An address file changes: the routes are taken over, the file is read, the verdicts follow,
    // and the result is field for field what a first load of the same files gives.
    c.dir.write("exact.list", "alice@exact.test\nerin@exact.test\nfrank@exact.test\n");
    const PolicyResult changed = reload(c.main, same);
    BOOST_REQUIRE_MESSAGE(changed.policy != nullptr, errors_text(changed));
    BOOST_TEST(changed.policy->config().parse_reused);
    BOOST_TEST(rule_for(*changed.policy, "bob@exact.test") == "not-listed");
    BOOST_TEST(rule_for(*changed.policy, "erin@exact.test") == "no-objection");
    const PolicyResult fresh = first_load(c.main);
    BOOST_REQUIRE_MESSAGE(fresh.policy != nullptr, errors_text(fresh));
    check_same_config(changed.policy->config(), fresh.policy->config());
    BOOST_TEST(changed.policy->config().routes[0].addresses_file->count == 3u);
    BOOST_TEST(changed.policy->config().digest != first.policy->config().digest);
}

BOOST_AUTO_TEST_CASE(any_change_to_a_config_file_is_parsed) {
    Mixed c;
    PolicyResult running = first_load(c.main);
    BOOST_REQUIRE_MESSAGE(running.policy != nullptr, errors_text(running));

    // A byte of the @include: parsed, and the change is in force.
    const std::string ranges = c.dir.path + "/ranges.conf";
    struct stat st {};
    BOOST_REQUIRE(::stat(ranges.c_str(), &st) == 0);
    const PolicyResult include_changed = [&] {
        c.dir.write("ranges.conf",
                    "ip_ranges = (\n"
                    "  { name = \"Office\"; cidr = [ \"192.0.2.0/24\" ]; priority = 20;\n"
                    "    allow = [ \"local-local\", \"local-external\", \"external-local\" ];\n"
                    "    require_auth = [ \"local-external\" ]; expires = \"2099-01-01T00:00:00Z\"; },\n"
                    "  { name = \"Internet\"; cidr = [ \"0.0.0.0/0\", \"::/0\" ]; priority = 11;\n"
                    "    allow = [ \"external-local\" ]; }\n"
                    ");\n");
        return reload(c.main, running);
    }();
    BOOST_REQUIRE_MESSAGE(include_changed.policy != nullptr, errors_text(include_changed));
    BOOST_TEST(!include_changed.policy->config().parse_reused);
    BOOST_TEST(include_changed.policy->config().ip_ranges.at(1).priority == 11);

    // Unchanged again: taken over.
    const PolicyResult again = reload(c.main, include_changed);
    BOOST_REQUIRE_MESSAGE(again.policy != nullptr, errors_text(again));
    BOOST_TEST(again.policy->config().parse_reused);
    BOOST_TEST(again.policy->config().ip_ranges.at(1).priority == 11);

    // The main file's mode (no byte changed): parsed.
    BOOST_REQUIRE(::chmod(c.main.c_str(), 0640) == 0);
    const PolicyResult chmodded = reload(c.main, again);
    BOOST_REQUIRE_MESSAGE(chmodded.policy != nullptr, errors_text(chmodded));
    BOOST_TEST(!chmodded.policy->config().parse_reused);

    // Other users may now read the file that holds a password: refused, as a parse refuses it.
    BOOST_REQUIRE(::chmod(c.main.c_str(), 0644) == 0);
    const PolicyResult readable = reload(c.main, chmodded);
    BOOST_TEST(readable.policy == nullptr);
    BOOST_TEST(errors_text(readable).find("holds route passwords but other users can read it") != std::string::npos,
               errors_text(readable));
}

// A reload finds each config file with the status (device, inode, size, mode, owner, mtime and
// ctime) the running config read it under: the files are not even read. Any write changes the
// ctime, which no one can set back: such a file is read, and parsed only if its bytes changed.
BOOST_AUTO_TEST_CASE(config_files_with_their_trusted_status_are_not_read) {
    Mixed c;
    const PolicyResult first = first_load(c.main);
    BOOST_REQUIRE_MESSAGE(first.policy != nullptr, errors_text(first));
    BOOST_TEST(!first.policy->config().config_files_unread);

    const PolicyResult same = reload(c.main, first);
    BOOST_REQUIRE_MESSAGE(same.policy != nullptr, errors_text(same));
    BOOST_TEST(same.policy->config().config_files_unread);
    BOOST_TEST(same.policy->config().parse_reused);
    check_same_config(same.policy->config(), first.policy->config());
    BOOST_TEST(rule_for(*same.policy, "bob@exact.test") == "no-objection");

    // And again from that one (what it recorded of the files is what the first load did).
    const PolicyResult again = reload(c.main, same);
    BOOST_REQUIRE_MESSAGE(again.policy != nullptr, errors_text(again));
    BOOST_TEST(again.policy->config().config_files_unread);
    check_same_config(again.policy->config(), first.policy->config());

    // The @include written again, byte for byte: read (its status changed), not parsed.
    const std::string ranges = c.dir.path + "/ranges.conf";
    struct stat st {};
    BOOST_REQUIRE(::stat(ranges.c_str(), &st) == 0);
    const std::string text = testing::read_file(ranges);
    c.dir.write("ranges.conf", text);
    const PolicyResult rewritten = reload(c.main, again);
    BOOST_REQUIRE_MESSAGE(rewritten.policy != nullptr, errors_text(rewritten));
    BOOST_TEST(!rewritten.policy->config().config_files_unread);
    BOOST_TEST(rewritten.policy->config().parse_reused);
    check_same_config(rewritten.policy->config(), first.policy->config());

    // One byte of it changed, the size and the modification time put back as they were: the
    // change time gives it away. Read, parsed, and in force.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const PolicyResult settled = reload(c.main, rewritten);
    BOOST_REQUIRE(settled.policy != nullptr);
    BOOST_TEST(settled.policy->config().config_files_unread);
    BOOST_REQUIRE(::stat(ranges.c_str(), &st) == 0);
    std::string edited = text;
    const std::size_t at = edited.find("priority = 10;");
    BOOST_REQUIRE(at != std::string::npos);
    edited.replace(at, 14, "priority = 12;");
    c.dir.write("ranges.conf", edited);
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    BOOST_REQUIRE(::utimensat(AT_FDCWD, ranges.c_str(), times, 0) == 0);
    struct stat now {};
    BOOST_REQUIRE(::stat(ranges.c_str(), &now) == 0);
    BOOST_REQUIRE(now.st_size == st.st_size);
    BOOST_REQUIRE(now.st_mtim.tv_sec == st.st_mtim.tv_sec);
    BOOST_REQUIRE(now.st_mtim.tv_nsec == st.st_mtim.tv_nsec);
    const PolicyResult edited_back = reload(c.main, settled);
    BOOST_REQUIRE_MESSAGE(edited_back.policy != nullptr, errors_text(edited_back));
    BOOST_TEST(!edited_back.policy->config().config_files_unread);
    BOOST_TEST(!edited_back.policy->config().parse_reused);
    BOOST_TEST(edited_back.policy->config().ip_ranges.at(1).priority == 12);

    // The main file replaced by another of the same bytes (a new inode, as an editor or a
    // deployment that renames over it makes): read, not parsed.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const PolicyResult before_rename = reload(c.main, edited_back);
    BOOST_REQUIRE(before_rename.policy != nullptr);
    BOOST_TEST(before_rename.policy->config().config_files_unread);
    c.dir.write("main.conf.new", testing::read_file(c.main), 0600);
    BOOST_REQUIRE(::rename((c.dir.path + "/main.conf.new").c_str(), c.main.c_str()) == 0);
    const PolicyResult renamed = reload(c.main, before_rename);
    BOOST_REQUIRE_MESSAGE(renamed.policy != nullptr, errors_text(renamed));
    BOOST_TEST(!renamed.policy->config().config_files_unread);
    BOOST_TEST(renamed.policy->config().parse_reused);
}

// A status is trusted only for a file that had been unchanged for address_file_settle when it
// was read: within the same tick of a coarse clock a write may leave the status as it was.
BOOST_AUTO_TEST_CASE(a_config_file_read_young_is_read_again) {
    Mixed c;
    const auto load = [&](const Policy* running) {
        return load_policy_file(c.main, UserCheck::skip, ListedAddressUse::into_index, running, address_file_settle_ns);
    };
    const PolicyResult first = load(nullptr);
    BOOST_REQUIRE_MESSAGE(first.policy != nullptr, errors_text(first));
    const PolicyResult next = load(first.policy.get());
    BOOST_REQUIRE_MESSAGE(next.policy != nullptr, errors_text(next));
    BOOST_TEST(!next.policy->config().config_files_unread);  // written within the last 10 s
    BOOST_TEST(next.policy->config().parse_reused);

    // A file that has been unchanged for longer than that: trusted.
    const struct timespec old[2] = {{1'700'000'000, 0}, {1'700'000'000, 0}};
    for (const char* name : {"main.conf", "ranges.conf"})
        BOOST_REQUIRE(::utimensat(AT_FDCWD, (c.dir.path + "/" + name).c_str(), old, 0) == 0);
    // (utimensat sets the ctime to now: only a settle of 0 trusts it yet.)
    const PolicyResult now_trusted = load_policy_file(c.main, UserCheck::skip, ListedAddressUse::into_index,
                                                      next.policy.get(), 0);
    BOOST_REQUIRE(now_trusted.policy != nullptr);
    BOOST_TEST(!now_trusted.policy->config().config_files_unread);
    const PolicyResult taken = load(now_trusted.policy.get());
    BOOST_REQUIRE(taken.policy != nullptr);
    BOOST_TEST(taken.policy->config().config_files_unread);
}

BOOST_AUTO_TEST_CASE(inline_addresses_are_parsed_every_time) {
    ConfigDir dir;
    dir.write("b.list", "u1@b.test\n");
    const std::string main =
        dir.write("main.conf",
                  "routes = (\n"
                  "  { domain = \"a.test\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
                  "    addresses = [ \"u1@a.test\" ]; },\n"
                  "  { domain = \"b.test\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n"
                  "    addresses_file = \"b.list\"; }\n"
                  ");\n");
    const PolicyResult first = first_load(main);
    BOOST_REQUIRE_MESSAGE(first.policy != nullptr, errors_text(first));
    BOOST_TEST(!first.policy->config().parse_reusable);
    const PolicyResult next = reload(main, first);
    BOOST_REQUIRE_MESSAGE(next.policy != nullptr, errors_text(next));
    BOOST_TEST(!next.policy->config().parse_reused);
    BOOST_TEST(rule_for(*next.policy, "u1@a.test") == "no-objection");
    BOOST_TEST(rule_for(*next.policy, "u2@a.test") == "not-listed");
    BOOST_TEST(rule_for(*next.policy, "u1@b.test") == "no-objection");

    // A config given as text (tests, fuzzing) is never taken over.
    const PolicyResult text = load_policy_text("routes = ( { domain = \"c.test\"; } );\n", "text.conf");
    BOOST_REQUIRE_MESSAGE(text.policy != nullptr, errors_text(text));
    BOOST_TEST(!text.policy->config().parse_reusable);
}

BOOST_AUTO_TEST_CASE(a_refused_reload_reads_as_a_first_load_words_it) {
    Mixed c;
    const PolicyResult running = first_load(c.main);
    BOOST_REQUIRE_MESSAGE(running.policy != nullptr, errors_text(running));

    // A broken address file: the names as written, every error at its FILE:LINE.
    c.dir.write("exact.list", "alice@exact.test\nnot an address\nzed@elsewhere.test\nalice@exact.test\n");
    const PolicyResult broken = reload(c.main, running);
    BOOST_TEST(broken.policy == nullptr);
    const PolicyResult fresh = first_load(c.main);
    BOOST_TEST(fresh.policy == nullptr);
    BOOST_TEST(!errors_text(broken).empty());
    BOOST_TEST(errors_text(broken) == errors_text(fresh));
    BOOST_TEST(errors_text(broken).find(c.dir.path + "/exact.list:3:") != std::string::npos, errors_text(broken));

    // A missing file: named at the config line, under the name the config gives it.
    BOOST_REQUIRE(::unlink((c.dir.path + "/exact.list").c_str()) == 0);
    const PolicyResult gone = reload(c.main, running);
    BOOST_TEST(gone.policy == nullptr);
    BOOST_TEST(errors_text(gone) == errors_text(first_load(c.main)));
    BOOST_TEST(errors_text(gone).find("(\"exact.list\", " + c.dir.path + "/exact.list)") != std::string::npos,
               errors_text(gone));

    // An address the compiler refuses (one a more specific route takes, across routes): the same
    // report as a first load's too.
    c.dir.write("exact.list", "alice@exact.test\n");
    c.dir.write("wild.list", "carol@a.wild.test\nx@taken.wild.test\n");
    const PolicyResult taken = reload(c.main, running);
    BOOST_TEST(taken.policy == nullptr);
    BOOST_TEST(errors_text(taken) == errors_text(first_load(c.main)));
    BOOST_TEST(errors_text(taken).find("taken.wild.test") != std::string::npos, errors_text(taken));

    c.dir.write("wild.list", "carol@a.wild.test\n");
    const PolicyResult fixed = reload(c.main, running);
    BOOST_REQUIRE_MESSAGE(fixed.policy != nullptr, errors_text(fixed));
    BOOST_TEST(fixed.policy->config().parse_reused);
}

BOOST_AUTO_TEST_SUITE_END()
