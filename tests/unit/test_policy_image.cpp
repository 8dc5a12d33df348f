// The policy image (policy_image.hpp, policy_image_file.hpp) end to end: a compiled config comes
// back whole from the file, its lookups answer as tests/unit/data/image_lookups.ref says, a
// damaged image is refused (or its lookups tempfail), and an image knows whether a source changed.
#define BOOST_TEST_DYN_LINK
#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/policy.hpp"
#include "route_milter/core/policy_image.hpp"
#include "route_milter/core/printable.hpp"
#include "route_milter/core/rule_names.hpp"
#include "route_milter/core/utc_time.hpp"
#include "route_milter/image/policy_image_file.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <cdb.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace route_milter;
using testing::ConfigDir;
using testing::errors_text;

namespace {

// The sources an image's header records, read out of it.
std::vector<image::Source> sources_of(const image::Header& h) {
    std::vector<image::Source> out;
    image::for_each_source(h, [&](std::string_view path, const SourceFile& file) {
        out.push_back({std::string(path), file});
        return true;
    });
    return out;
}

using ImageBytes = std::vector<unsigned char>;

ImageBytes bytes_of(const std::string& path) {
    const std::string text = testing::read_file(path);
    return ImageBytes(text.begin(), text.end());
}

void write_bytes(const std::string& path, const ImageBytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    BOOST_REQUIRE(out.good());
}

// An image from memory, as the daemon's mapping hands it over: the buffer lives with the policy.
Policy::Opened open_bytes(ImageBytes bytes) {
    auto owned = std::make_shared<const ImageBytes>(std::move(bytes));
    return Policy::open(image::Bytes(owned->data(), owned->size()), owned);
}

Config compiled_file(const std::string& path) {
    CompiledConfig r = compile_config_file(path, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), errors_text(r));
    return std::move(*r.config);
}

std::filesystem::path data_dir() { return std::filesystem::path(__FILE__).parent_path() / "data"; }

// image_lookups.conf written as an image, and its bytes.
struct LookupsImage {
    ConfigDir d;
    std::string path = d.path + "/lookups.image";
    ImageBytes bytes;
    LookupsImage() {
        const CompiledConfig c = compile_config_text(testing::read_file((data_dir() / "image_lookups.conf").string()),
                                                     "image_lookups.conf");
        BOOST_REQUIRE_MESSAGE(c.config.has_value(), errors_text(c));
        BOOST_REQUIRE_EQUAL(write_policy_image(*c.config, path), "");
        bytes = bytes_of(path);
    }
};

// A record of the image's constant database where it lies in the file (tinycdb's format: the
// 2048-byte table index, the records one after the other, each its key length, data length,
// key and data, then the hash tables).
struct CdbRecord {
    std::string key;
    std::size_t start = 0;  // its lengths
    std::size_t data = 0;
    std::size_t data_length = 0;
    std::size_t end() const { return data + data_length; }
};

struct CdbLayout {
    std::vector<CdbRecord> records;
    std::size_t records_end = 0;  // where the hash tables begin
};

CdbLayout layout_of(const ImageBytes& b) {
    CdbLayout out;
    BOOST_REQUIRE(b.size() >= 2048);
    out.records_end = cdb_unpack(b.data());
    BOOST_REQUIRE(out.records_end <= b.size());
    for (std::size_t at = 2048; at < out.records_end;) {
        BOOST_REQUIRE(out.records_end - at >= 8);
        CdbRecord r;
        const std::size_t key_length = cdb_unpack(b.data() + at);
        r.data_length = cdb_unpack(b.data() + at + 4);
        r.start = at;
        r.key.assign(reinterpret_cast<const char*>(b.data() + at + 8), key_length);
        r.data = at + 8 + key_length;
        BOOST_REQUIRE(r.end() <= out.records_end);
        at = r.end();
        out.records.push_back(std::move(r));
    }
    return out;
}

const CdbRecord& record_for(const CdbLayout& layout, std::string_view key) {
    for (const CdbRecord& r : layout.records)
        if (r.key == key) return r;
    BOOST_FAIL("no record " << printable(key) << " in the image");
    throw std::logic_error("unreachable");
}

// A refusal says why in one line.
bool clear(const std::string& error) { return !error.empty() && error.find('\n') == std::string::npos; }

std::string name_or_dash(std::string_view name) { return name.empty() ? "-" : std::string(name); }

// A decision as image_lookups.ref spells it: rule route range class mode.
std::string spelled(const Decision& d) {
    return std::string(name_of(d.rule)) + " " + (d.route ? std::string(d.route.pattern) : "-") + " " +
           (d.range != nullptr ? name_or_dash(d.range->name) : "-") + " " +
           (d.delivery_class ? std::string(name_of(*d.delivery_class)) : "-") + " " + std::string(name_of(d.mode));
}

std::string identity(const SourceFile& f) {
    std::ostringstream out;
    out << f.device << " " << f.inode << " " << f.size << " " << f.mtime_ns << " " << f.ctime_ns << " " << std::oct
        << f.mode << std::dec << " " << f.uid << " " << f.gid << (f.settled ? " settled" : " unsettled");
    return out.str();
}

const char* const round_trip_main =
    "milter = { socket = \"inet:8894@127.0.0.1\"; user = \"nobody\"; timeout = 120; log_accepted = true; };\n"
    "metrics = { listen = \"inet:9101@127.0.0.1\"; max_connections = 4; timeout = 7; };\n"
    "scope = \"all\";\n"
    "mode = \"warn\";\n"
    "local_domains = [ \"own.test\", \"Köln.test\" ];\n"
    "@include \"ranges.conf\"\n"
    "routes = (\n"
    "  { domain = \"backup.test\"; treat_recipient_as = \"local\"; deliver_to = \"listed\"; mode = \"enforce\";\n"
    "    addresses = [ \"alice@backup.test\", \"Bob@Backup.Test\" ]; addresses_file = \"backup.list\"; },\n"
    "  { domain = \"*.wild.test\"; treat_recipient_as = \"local\"; },\n"
    "  { domain = \"exact.wild.test\"; deliver_to = \"listed\"; addresses = [ \"only@exact.wild.test\" ]; },\n"
    "  { domain = \"bücher.test\"; treat_sender_as = \"local\"; deliver_to = \"listed\"; mode = \"warn\";\n"
    "    addresses_file = \"buecher.list\"; },\n"
    "  { domain = \"relay.test\"; host = \"smtp.relay.test\"; mode = \"enforce\"; },\n"
    "  { domain = \"*\"; deliver_to = \"listed\"; addresses = [ \"x@anywhere.test\", \"\\\"john doe\\\"@far.test\" ]; }\n"
    ");\n";

const char* const round_trip_ranges =
    "ip_ranges = (\n"
    "  { name = \"My computer\"; cidr = [ \"127.0.0.1/32\", \"::1/128\" ]; priority = 30;\n"
    "    allow = [ \"local-local\", \"local-external\", \"external-local\", \"external-external\" ];\n"
    "    require_auth = [ \"external-external\" ]; },\n"
    "  { name = \"office\"; lower = \"192.0.2.10\"; upper = \"192.0.2.20\"; priority = 20;\n"
    "    allow = [ \"local-local\", \"local-external\" ]; require_auth = [ \"local-external\" ];\n"
    "    require_tls_for_auth = true; },\n"
    "  { name = \"partner v6\"; cidr = [ \"2001:db8:77::/48\", \"198.51.100.0/24\" ]; priority = 25;\n"
    "    allow = [ \"external-external\" ]; expires = \"2027-03-01T00:00:00Z\"; },\n"
    "  { name = \"Internet\"; cidr = [ \"0.0.0.0/0\", \"::/0\" ]; priority = 10; allow = [ \"external-local\" ]; }\n"
    ");\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(policy_image)

// What the compiler read is what the image gives back: every setting, range and route, each
// listed address under its own route only.
BOOST_AUTO_TEST_CASE(a_config_comes_back_whole_from_its_image) {
    const ConfigDir d;
    const std::string main = d.write("main.conf", round_trip_main);
    const std::string ranges = d.write("ranges.conf", round_trip_ranges);
    const std::string backup_list = d.write("backup.list", "carl@backup.test\nDora@BACKUP.test\n", 0644);
    const std::string buecher_list =
        d.write("buecher.list", "leser@bücher.test\nAnna@BÜCHER.test\nkunde@xn--bcher-kva.test\nmüller@bücher.test\n", 0644);
    const Config c = compiled_file(main);
    // The config read as meant: the test compares values that differ from every default.
    BOOST_REQUIRE(c.routes.size() == 6u);
    BOOST_REQUIRE(c.ip_ranges.size() == 4u);
    BOOST_REQUIRE(c.metrics.has_value());
    BOOST_TEST(c.milter.timeout == 120);
    BOOST_TEST(c.milter.user == "nobody");
    BOOST_TEST(c.config_file_count == 2u);
    BOOST_TEST(c.files.size() == 4u);
    BOOST_TEST(c.listed.record_count() == 2u + 2u + 1u + 4u + 2u);
    BOOST_TEST(!c.ip_ranges_are_defaults);

    const std::string path = d.path + "/policy.image";
    BOOST_REQUIRE_EQUAL(write_policy_image(c, path), "");
    struct stat st {};
    BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 07777) == 0640u);
    for (const auto& entry : std::filesystem::directory_iterator(d.path))  // no temporary file left
        BOOST_TEST(entry.path().filename().string().find("policy.image.") == std::string::npos, entry.path());
    const Policy::Opened opened = open_policy_image(path);
    BOOST_REQUIRE_MESSAGE(opened.policy != nullptr, opened.error);
    const Policy& p = *opened.policy;

    // The header: where it came from, each source as read.
    const image::Header& header = p.header();
    BOOST_TEST(header.version == image::format_version);
    BOOST_TEST(header.config_path == main);
    BOOST_TEST(header.digest == c.digest);
    BOOST_TEST(header.digest.size() == 64u);
    BOOST_TEST(header.source_count == c.files.size());
    const std::vector<image::Source> sources = sources_of(header);
    BOOST_REQUIRE(sources.size() == c.files.size());
    BOOST_REQUIRE(c.sources.size() == c.files.size());
    for (std::size_t i = 0; i < c.files.size(); ++i) {
        BOOST_TEST(sources[i].path == std::string(c.files[i]));
        BOOST_TEST(identity(sources[i].file) == identity(c.sources[i]), c.files[i]);
        BOOST_TEST(sources[i].file.inode != 0u, c.files[i]);
    }
    BOOST_TEST(sources[0].path == main);
    BOOST_TEST(sources[1].path == ranges);
    BOOST_TEST((sources[2].path == backup_list || sources[3].path == backup_list));
    BOOST_TEST((sources[2].path == buecher_list || sources[3].path == buecher_list));

    // The settings.
    const Config& got = p.config();
    BOOST_TEST(got.file == c.file);
    BOOST_TEST(got.digest == c.digest);
    BOOST_TEST(got.config_file_count == c.config_file_count);
    BOOST_REQUIRE(got.files.size() == c.config_file_count);
    for (std::size_t i = 0; i < c.config_file_count; ++i) BOOST_TEST(got.files[i] == c.files[i]);
    BOOST_TEST((got.milter.socket == c.milter.socket));
    BOOST_TEST(got.milter.socket.text() == "inet:8894@127.0.0.1");
    BOOST_TEST(got.milter.user == c.milter.user);
    BOOST_TEST(got.milter.user_line == c.milter.user_line);
    BOOST_TEST(got.milter.user_line == 1u);
    BOOST_TEST(got.milter.user_file == c.milter.user_file);
    BOOST_TEST(got.milter.timeout == c.milter.timeout);
    BOOST_TEST(got.milter.log_accepted == c.milter.log_accepted);
    BOOST_TEST(got.milter.log_accepted);
    BOOST_REQUIRE(got.metrics.has_value());
    BOOST_TEST((got.metrics->listen == c.metrics->listen));
    BOOST_TEST(got.metrics->max_connections == 4);
    BOOST_TEST(got.metrics->max_connections == c.metrics->max_connections);
    BOOST_TEST(got.metrics->timeout == 7);
    BOOST_TEST(got.metrics->timeout == c.metrics->timeout);
    BOOST_TEST(got.metrics->line == c.metrics->line);
    BOOST_TEST(got.metrics->line == 2u);
    BOOST_TEST(got.metrics->file == c.metrics->file);
    BOOST_TEST((got.scope == Scope::all));
    BOOST_TEST((got.mode == Mode::warn));
    BOOST_TEST(got.ip_ranges_are_defaults == c.ip_ranges_are_defaults);
    BOOST_TEST(got.local_domains == c.local_domains, boost::test_tools::per_element());
    BOOST_TEST(got.local_domains.at(1) == "xn--kln-sna.test");

    // The ranges, field by field, and in the file they came from.
    BOOST_REQUIRE(got.ip_ranges.size() == c.ip_ranges.size());
    for (std::size_t i = 0; i < c.ip_ranges.size(); ++i) {
        const IpRangeConfig& a = got.ip_ranges[i];
        const IpRangeConfig& b = c.ip_ranges[i];
        BOOST_TEST_CONTEXT(b.name) {
            BOOST_TEST(a.name == b.name);
            BOOST_TEST((a.intervals == b.intervals));
            BOOST_TEST(a.priority == b.priority);
            BOOST_TEST((a.allow == b.allow));
            BOOST_TEST((a.require_auth == b.require_auth));
            BOOST_TEST(a.require_tls_for_auth == b.require_tls_for_auth);
            BOOST_TEST((a.expires == b.expires));
            BOOST_TEST(a.line == b.line);
            BOOST_TEST(a.file == b.file);
            BOOST_TEST(got.files.at(a.file) == ranges);
        }
    }
    BOOST_TEST(got.ip_ranges[0].intervals.size() == 2u);  // v4 and v6
    BOOST_TEST(got.ip_ranges[1].require_tls_for_auth);
    BOOST_TEST((got.ip_ranges[2].expires == parse_utc_timestamp("2027-03-01T00:00:00Z")));
    BOOST_TEST(p.range_for(parse_ip_address("2001:db8:77::1"), 0)->name == "partner v6");
    BOOST_TEST(p.range_for(parse_ip_address("2001:db8:77::1"), *parse_utc_timestamp("2027-03-01T00:00:00Z"))->name ==
               "Internet");
    BOOST_TEST(p.range_for(parse_ip_address("192.0.2.15"), 0)->name == "office");
    BOOST_TEST(p.range_for(parse_ip_address("192.0.2.21"), 0)->name == "Internet");

    // The routes, in config order, each with its own count of listed addresses.
    BOOST_REQUIRE(p.route_count() == c.routes.size());
    for (std::uint32_t i = 0; i < c.routes.size(); ++i) {
        const RouteConfig& want = c.routes[i];
        const RouteView r = p.route(i);
        BOOST_TEST_CONTEXT(want.pattern.text()) {
            BOOST_TEST(r.index == i);
            BOOST_TEST(r.pattern == want.pattern.text());
            BOOST_TEST((r.record.kind == want.pattern.kind()));
            BOOST_TEST(r.record.line == want.line);
            BOOST_TEST(r.record.file == want.file);
            BOOST_TEST(got.files.at(r.record.file) == main);
            BOOST_TEST((r.record.deliver_to == want.deliver_to));
            BOOST_TEST((r.record.treat_recipient_as == want.treat_recipient_as));
            BOOST_TEST((r.record.treat_sender_as == want.treat_sender_as));
            BOOST_TEST((r.record.mode == want.mode));
            BOOST_TEST((r.mode == effective_mode(c, &want)));
            BOOST_TEST((r.range_mode == range_rules_mode(c, &want)));
            BOOST_TEST(r.record.listed_count == c.listed.of_route(i).size());
        }
    }
    BOOST_TEST(p.route(0).record.listed_count == 4u);
    BOOST_TEST(p.route(3).pattern == "xn--bcher-kva.test");
    BOOST_TEST(p.route(3).record.listed_count == 4u);
    BOOST_TEST((p.route(1).record.kind == RoutePattern::Kind::wildcard));
    BOOST_TEST((p.route(5).record.kind == RoutePattern::Kind::catch_all));
    BOOST_TEST((!p.route(1).record.mode.has_value()));
    BOOST_TEST(p.routes_in_mode(Mode::warn) == routes_in_mode(c, Mode::warn));
    BOOST_TEST(p.routes_in_mode(Mode::enforce) == routes_in_mode(c, Mode::enforce));
    BOOST_TEST(p.routes_in_mode(Mode::enforce) == 2u);
    BOOST_TEST(p.route_for_domain("backup.test") == 0u);
    BOOST_TEST(p.route_for_domain("a.b.wild.test") == 1u);
    BOOST_TEST(p.route_for_domain("exact.wild.test") == 2u);
    BOOST_TEST(p.route_for_domain("xn--bcher-kva.test") == 3u);
    BOOST_TEST(p.route_for_domain("elsewhere.test") == 5u);

    // Every listed address, under its route and no other.
    BOOST_TEST(p.listed_address_count() == c.listed.record_count());
    for (const ListedAddresses::Record& r : c.listed.records()) {
        const std::string_view address = c.listed.text(r);
        for (std::uint32_t route = 0; route < p.route_count(); ++route)
            BOOST_TEST((p.is_listed(route, address) == std::optional<bool>(route == r.route)),
                       address << " under route " << route);
    }
    for (const char* address : {"müller@xn--bcher-kva.test", "anna@xn--bcher-kva.test", "john doe@far.test",
                                "dora@backup.test", "carl@backup.test"})
        BOOST_TEST((p.is_listed(p.route_for_domain(std::string_view(address).substr(std::string_view(address).find('@') + 1)),
                                address) == std::optional<bool>(true)),
                   address);
    for (const char* address : {"carol@backup.test", "alice@backup.tes", "alice@backup.test.", "only@wild.test",
                                "x@anywhere.tes", "johndoe@far.test", "leser@bücher.test", "", "@"})
        for (std::uint32_t route = 0; route < p.route_count(); ++route)
            BOOST_TEST((p.is_listed(route, address) == std::optional<bool>(false)), address << " under route " << route);

    // And the decisions the same policy makes in memory (load_policy_file), recipient by recipient.
    const PolicyResult in_memory = load_policy_file(main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(in_memory.policy != nullptr, errors_text(in_memory));
    for (const char* to : {"<alice@backup.test>", "<dora@backup.test>", "<eve@backup.test>", "<x@a.wild.test>",
                           "<only@exact.wild.test>", "<other@exact.wild.test>", "<Müller@BÜCHER.test>",
                           "<nobody@bücher.test>", "<x@relay.test>", "<x@anywhere.test>", "<\"john doe\"@far.test>",
                           "<y@anywhere.test>", "<u@own.test>", "<u@köln.test>"})
        for (const char* client : {"203.0.113.5", "192.0.2.12", "198.51.100.1"}) {
            const Query q{parse_ip_address(client), false, "<leser@bücher.test>", to};
            BOOST_TEST(spelled(p.decide(q)) == spelled(in_memory.policy->decide(q)), to << " from " << client);
        }
    BOOST_TEST(spelled(p.decide(Query{parse_ip_address("203.0.113.5"), false, "<a@far.test>", "<eve@backup.test>"})) ==
               "not-listed backup.test Internet - enforce");
}

// fuzz-image's seeds must be images this build opens, or the fuzzer starts from refusals only.
BOOST_AUTO_TEST_CASE(the_fuzz_seeds_are_images_this_build_opens) {
    int seeds = 0;
    for (const auto& entry : std::filesystem::directory_iterator(data_dir().parent_path().parent_path() / "fuzz/corpus/image")) {
        if (entry.path().extension() != ".image") continue;
        const Policy::Opened o = open_bytes(bytes_of(entry.path().string()));
        BOOST_TEST(o.policy != nullptr, entry.path().filename() << ": " << o.error << " (run tests/fuzz/make_image_seeds.sh)");
        if (o.policy != nullptr) BOOST_TEST(o.policy->route_count() > 0u, entry.path());
        ++seeds;
    }
    BOOST_TEST(seeds == 3);
}

// A config without ranges or metrics: the defaults come back as defaults.
BOOST_AUTO_TEST_CASE(the_default_ranges_and_no_metrics_come_back_too) {
    const CompiledConfig c = compile_config_text("routes = ( { domain = \"a.test\"; } );", "plain.conf");
    BOOST_REQUIRE_MESSAGE(c.config.has_value(), errors_text(c));
    const Policy::Opened opened = policy_in_memory(*c.config);
    BOOST_REQUIRE_MESSAGE(opened.policy != nullptr, opened.error);
    const Config& got = opened.policy->config();
    BOOST_TEST(got.ip_ranges_are_defaults);
    BOOST_TEST(!got.metrics.has_value());
    BOOST_TEST((got.milter.socket == c.config->milter.socket));
    BOOST_TEST(got.milter.user.empty());
    BOOST_REQUIRE(got.ip_ranges.size() == c.config->ip_ranges.size());
    for (std::size_t i = 0; i < got.ip_ranges.size(); ++i) {
        BOOST_TEST(got.ip_ranges[i].name == c.config->ip_ranges[i].name);
        BOOST_TEST((got.ip_ranges[i].intervals == c.config->ip_ranges[i].intervals));
        BOOST_TEST((got.ip_ranges[i].require_auth == c.config->ip_ranges[i].require_auth));
    }
    BOOST_TEST(opened.policy->listed_address_count() == 0u);
    // From text: no source was read from a file, so none is ever taken as unchanged.
    for (const image::Source& s : sources_of(opened.policy->header())) BOOST_TEST(!s.file.settled, s.path);
    std::string why;
    BOOST_TEST(!image_is_current(*opened.policy, "plain.conf", why));
}

// Postfix's transport.in/transport.ref: each query line of the .ref decided through the image.
BOOST_AUTO_TEST_CASE(lookups_answer_as_the_reference_says) {
    const LookupsImage image;
    const Policy::Opened opened = open_policy_image(image.path);
    BOOST_REQUIRE_MESSAGE(opened.policy != nullptr, opened.error);
    const Policy& p = *opened.policy;
    std::istringstream ref(testing::read_file((data_dir() / "image_lookups.ref").string()));
    std::int64_t now = 0;
    int number = 0, queries = 0;
    std::set<std::string> rules;
    for (std::string line; std::getline(ref, line);) {
        ++number;
        if (line.empty() || line[0] == '#') continue;
        if (line.rfind("@now ", 0) == 0) {
            const auto t = parse_utc_timestamp(line.substr(5));
            BOOST_REQUIRE_MESSAGE(t.has_value(), "image_lookups.ref:" << number << ": not a time");
            now = *t;
            continue;
        }
        std::istringstream fields(line);
        std::string client, auth, tls, from, to, rule, route, range, cls, mode, extra;
        fields >> client >> auth >> tls >> from >> to >> rule >> route >> range >> cls >> mode;
        BOOST_REQUIRE_MESSAGE(!fields.fail() && !(fields >> extra), "image_lookups.ref:" << number << ": not 10 fields");
        BOOST_REQUIRE_MESSAGE((auth == "yes" || auth == "no") && (tls == "yes" || tls == "no"),
                              "image_lookups.ref:" << number << ": auth and tls are yes or no");
        std::optional<IpAddress> ip;
        if (client != "-") {
            ip = parse_ip_address(client);
            BOOST_REQUIRE_MESSAGE(ip.has_value(), "image_lookups.ref:" << number << ": not an IP address");
        }
        const Decision d = p.decide(Query{ip, auth == "yes", from, to, tls == "yes", now});
        const std::string want = rule + " " + route + " " + range + " " + cls + " " + mode;
        BOOST_TEST(spelled(d) == want, "image_lookups.ref:" << number << ": " << client << " " << auth << " " << tls
                                                            << " " << from << " " << to);
        rules.insert(rule);
        ++queries;
    }
    BOOST_TEST(queries == 56);
    // Every rule is in the file but the one only a damaged image gives (tested below).
    for (const auto& row : rule_names)
        if (row.code != Rule::policy_unreadable) BOOST_TEST(rules.count(std::string(row.name)) == 1u, row.name);
}

// A file cut short anywhere is refused before a byte of it is used.
BOOST_AUTO_TEST_CASE(a_truncated_image_is_refused) {
    const LookupsImage image;
    const std::size_t size = image.bytes.size();
    BOOST_REQUIRE(size > 2048u);
    std::vector<std::size_t> cuts;
    for (std::size_t k = 0; k < 16; ++k) cuts.push_back(size * k / 16);
    cuts.push_back(size - 1);
    const std::string cut_path = image.d.path + "/cut.image";
    for (const std::size_t cut : cuts) {
        write_bytes(cut_path, ImageBytes(image.bytes.begin(), image.bytes.begin() + static_cast<std::ptrdiff_t>(cut)));
        const Policy::Opened opened = open_policy_image(cut_path);
        BOOST_TEST(opened.policy == nullptr, "cut at " << cut);
        BOOST_TEST(clear(opened.error), "cut at " << cut);
        BOOST_TEST(opened.error.rfind(cut_path + ": ", 0) == 0u, opened.error);
        BOOST_TEST(opened.error.find("truncated") != std::string::npos, opened.error);
    }
    // The whole file still opens: the cuts, not the writing, were refused.
    write_bytes(cut_path, image.bytes);
    BOOST_TEST(open_policy_image(cut_path).error == "");
}

// The records the header's checksums cover (and the header itself), byte by byte, bit by bit.
BOOST_AUTO_TEST_CASE(a_flipped_byte_in_the_header_settings_routes_or_patterns_is_refused) {
    const LookupsImage image;
    const CdbLayout layout = layout_of(image.bytes);
    BOOST_REQUIRE(open_bytes(image.bytes).policy != nullptr);
    for (const std::string_view key : {image::header_key, image::settings_key, image::routes_key, image::patterns_key}) {
        const CdbRecord& r = record_for(layout, key);
        BOOST_REQUIRE(r.data_length > 0u);
        std::vector<std::string> opened;
        for (std::size_t at = r.start; at < r.end(); ++at)
            for (const unsigned char bit : {0x01, 0x80}) {
                ImageBytes damaged = image.bytes;
                damaged[at] ^= bit;
                const Policy::Opened o = open_bytes(std::move(damaged));
                if (o.policy != nullptr)
                    opened.push_back(std::to_string(at - r.start) + "^" + std::to_string(bit));
                else
                    BOOST_TEST((clear(o.error) && (o.error.find("damaged") != std::string::npos ||
                                                   o.error.find("not a route-milter policy image") != std::string::npos ||
                                                   o.error.find("image format") != std::string::npos)),
                               o.error);
            }
        std::string first;
        for (std::size_t i = 0; i < opened.size() && i < 12; ++i) first += " " + opened[i];
        BOOST_TEST(opened.empty(), printable(key) << " record (" << r.end() - r.start << " bytes): " << opened.size()
                                                  << " flips opened, at byte^bit:" << first);
    }
}

// tinycdb's 2048-byte table index: every byte of it counts.
BOOST_AUTO_TEST_CASE(a_flipped_byte_in_the_table_index_is_refused) {
    const LookupsImage image;
    int refused = 0;
    for (std::size_t at = 0; at < 2048; ++at)
        for (const unsigned char bit : {0x01, 0x80}) {
            ImageBytes damaged = image.bytes;
            damaged[at] ^= bit;
            const Policy::Opened o = open_bytes(std::move(damaged));
            BOOST_TEST(o.policy == nullptr, "byte " << at << "^" << int(bit));
            refused += o.policy == nullptr;
            if (o.policy == nullptr)
                BOOST_TEST((clear(o.error) && (o.error.find("damaged table index") != std::string::npos ||
                                               o.error.find("truncated") != std::string::npos)),
                           o.error);
        }
    BOOST_TEST(refused == 2 * 2048);
}

BOOST_AUTO_TEST_CASE(an_empty_file_or_another_file_is_refused) {
    const ConfigDir d;
    const auto refused = [&](const std::string& path, const std::string& why) {
        const Policy::Opened o = open_policy_image(path);
        BOOST_TEST(o.policy == nullptr, path);
        BOOST_TEST(clear(o.error), o.error);
        BOOST_TEST(o.error.rfind(path + ": ", 0) == 0u, o.error);
        BOOST_TEST(o.error.find(why) != std::string::npos, o.error);
    };
    refused(d.write("empty.image", ""), "truncated or oversized (0 bytes)");
    std::string text;  // a text file as long as an image's table index, and more
    while (text.size() < 4096) text += round_trip_main;
    refused(d.write("config.image", text), "damaged table index");
    refused(d.write("zeros.image", std::string(4096, '\0')), "damaged table index");
    refused(d.path + "/missing.image", "No such file or directory");
    refused(d.path, "not a regular file");
    // A constant database, but not a policy image (a Postfix cdb: table), or one of another format.
    const auto cdb_file = [&](const std::string& name, std::string_view key, const std::string& value) {
        const std::string path = d.path + "/" + name;
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
        BOOST_REQUIRE(fd >= 0);
        cdb_make make{};
        BOOST_REQUIRE(cdb_make_start(&make, fd) == 0);
        BOOST_REQUIRE(cdb_make_add(&make, key.data(), static_cast<unsigned>(key.size()), value.data(),
                                   static_cast<unsigned>(value.size())) == 0);
        BOOST_REQUIRE(cdb_make_finish(&make) == 0);
        ::close(fd);
        return path;
    };
    refused(cdb_file("postfix.cdb", "example.com", "smtp:[192.0.2.1]"), "not a route-milter policy image (no header)");
    refused(cdb_file("magic.image", image::header_key, "route-milter policy"), "not a route-milter policy image");
    image::Header future;
    future.version = image::format_version + 1;
    refused(cdb_file("future.image", image::header_key, image::encode_header(future)),
            "image format " + std::to_string(image::format_version + 1) + ", this build reads format " +
                std::to_string(image::format_version));
}

// A damaged lookup record is found where it is read: the lookup answers, or the decision
// tempfails (policy-unreadable); it never reads outside the image (run under ASan).
BOOST_AUTO_TEST_CASE(a_damaged_lookup_record_answers_or_tempfails) {
    const LookupsImage image;
    const CdbLayout layout = layout_of(image.bytes);
    const Policy::Opened good = open_bytes(image.bytes);
    BOOST_REQUIRE(good.policy != nullptr);
    const auto decide = [](const Policy& p, const char* from, const char* to) {
        return p.decide(Query{parse_ip_address("203.0.113.5"), false, from, to, false, 0});
    };
    // From an unrouted sender: only the recipient's lookups are at stake.
    const std::vector<const char*> listed = {"<alice@backup.test>", "<bob@backup.test>", "<only@exact.wild.test>",
                                             "<boss@trusted.test>", "<leser@bücher.test>", "<ok@rehearsal.test>"};
    const std::vector<const char*> unlisted = {"<carol@backup.test>", "<zz@exact.wild.test>", "<nobody@trusted.test>",
                                               "<ok@backup.test>"};
    const std::vector<const char*> others = {"<x@relay.test>", "<x@a.wild.test>", "<x@a.deep.wild.test>",
                                             "<x@own.test>", "<x@nowhere.test>", "<Postmaster>"};
    std::vector<Rule> baseline;
    for (const char* to : listed) baseline.push_back(decide(*good.policy, "<a@far.test>", to).rule);
    for (const Rule r : baseline) BOOST_REQUIRE((r == Rule::no_objection || r == Rule::auth_required));

    std::size_t address_bytes = 0, opened = 0, unreadable = 0;
    for (const CdbRecord& r : layout.records) {
        if (!r.key.empty() && r.key[0] == '\0') continue;  // the checked records: the test above
        const bool address = r.key.find('@') != std::string::npos;
        address_bytes += address ? r.end() - r.start : 0;
        for (std::size_t at = r.start; at < r.end(); ++at)
            for (const unsigned char bit : {0x01, 0x80}) {
                ImageBytes damaged = image.bytes;
                damaged[at] ^= bit;
                const Policy::Opened o = open_bytes(std::move(damaged));
                if (o.policy == nullptr) {
                    BOOST_TEST(clear(o.error), o.error);
                    continue;
                }
                ++opened;
                const Policy& p = *o.policy;
                const std::string what = printable(r.key) + " byte " + std::to_string(at - r.start) + "^" + std::to_string(bit);
                for (std::size_t i = 0; i < listed.size(); ++i) {
                    const Decision d = decide(p, "<a@far.test>", listed[i]);
                    unreadable += d.rule == Rule::policy_unreadable;
                    if (d.route) BOOST_TEST(d.route.index < p.route_count(), what);
                    if (address)  // the address's own answer, not listed, or a tempfail
                        BOOST_TEST((d.rule == baseline[i] || d.rule == Rule::not_listed || d.rule == Rule::policy_unreadable),
                                   what << ": " << listed[i] << " " << name_of(d.rule));
                }
                for (const char* to : unlisted) {
                    const Decision d = decide(p, "<a@far.test>", to);
                    if (address)
                        BOOST_TEST((d.rule == Rule::not_listed || d.rule == Rule::policy_unreadable),
                                   what << ": " << to << " " << name_of(d.rule));
                }
                for (const char* to : others) {
                    const Decision d = decide(p, "<a@far.test>", to);
                    if (d.route) BOOST_TEST(d.route.index < p.route_count(), what);
                }
                decide(p, "<boss@trusted.test>", "<x@relay.test>");
                decide(p, "<x@a.senders.test>", "<alice@backup.test>");
            }
    }
    BOOST_TEST(address_bytes > 100u);
    BOOST_TEST(opened > 0u);      // most damage here is left to the lookups...
    BOOST_TEST(unreadable > 0u);  // ...some of which can tell
    // The hash tables behind the records: a lookup may go astray, never out of the image.
    for (std::size_t at = layout.records_end; at < image.bytes.size(); ++at) {
        ImageBytes damaged = image.bytes;
        damaged[at] ^= 0x80;
        const Policy::Opened o = open_bytes(std::move(damaged));
        if (o.policy == nullptr) continue;
        for (const auto* set : {&listed, &unlisted, &others})
            for (const char* to : *set) {
                const Decision d = decide(*o.policy, "<boss@trusted.test>", to);
                if (d.route) BOOST_TEST(d.route.index < o.policy->route_count(), "table byte " << at);
            }
    }
}

// The value of a lookup record names a route: one beyond the routes is damage, and the decision
// tempfails; another route's index does not list the address there.
BOOST_AUTO_TEST_CASE(a_lookup_naming_no_route_tempfails_the_decision) {
    const LookupsImage image;
    const CdbLayout layout = layout_of(image.bytes);
    const auto with = [&](std::string_view key, std::size_t offset, unsigned char bit) {
        const CdbRecord& r = record_for(layout, key);
        ImageBytes damaged = image.bytes;
        damaged.at(r.start + offset) ^= bit;
        const Policy::Opened o = open_bytes(std::move(damaged));
        BOOST_REQUIRE_MESSAGE(o.policy != nullptr, o.error);
        return o.policy;
    };
    const auto rule = [](const Policy& p, const char* from, const char* to) {
        return std::string(name_of(p.decide(Query{parse_ip_address("203.0.113.5"), false, from, to}).rule));
    };
    const CdbRecord& alice = record_for(layout, "alice@backup.test");
    BOOST_REQUIRE(alice.data_length == 4u);
    const std::size_t value = alice.data - alice.start;
    // Its route index 0 becomes 2^31: no such route.
    const auto beyond = with("alice@backup.test", value + 3, 0x80);
    const Decision d = beyond->decide(Query{parse_ip_address("203.0.113.5"), false, "<a@far.test>", "<alice@backup.test>"});
    BOOST_TEST(name_of(d.rule) == "policy-unreadable");
    BOOST_TEST(d.refuses());
    BOOST_TEST(d.reply().code[0] == '4');
    BOOST_TEST(rule(*beyond, "<a@far.test>", "<bob@backup.test>") == "no-objection");  // the rest answers
    BOOST_TEST((beyond->is_listed(0, "alice@backup.test") == std::nullopt));
    // Route 1 instead: listed there, not under backup.test's route.
    const auto other = with("alice@backup.test", value, 0x01);
    BOOST_TEST(rule(*other, "<a@far.test>", "<alice@backup.test>") == "not-listed");
    BOOST_TEST((other->is_listed(1, "alice@backup.test") == std::optional<bool>(true)));
    // Its data length 5: not a route index.
    BOOST_TEST(rule(*with("alice@backup.test", 4, 0x01), "<a@far.test>", "<alice@backup.test>") == "policy-unreadable");
    // A domain's route beyond the routes: its recipients tempfail, and so does every recipient
    // of a sender in it (its class cannot be told).
    const CdbRecord& backup = record_for(layout, "backup.test");
    const auto domain = with("backup.test", backup.data - backup.start + 3, 0x80);
    BOOST_TEST(rule(*domain, "<a@far.test>", "<carol@backup.test>") == "policy-unreadable");
    BOOST_TEST(rule(*domain, "<x@backup.test>", "<x@relay.test>") == "policy-unreadable");
    BOOST_TEST(rule(*domain, "<a@far.test>", "<x@relay.test>") == "auth-required");
    BOOST_TEST(domain->route_for_domain("backup.test") == Policy::damaged);
    // Even <postmaster> stays accepted.
    BOOST_TEST(rule(*domain, "<x@backup.test>", "<postmaster>") == "postmaster");
}

// A new image is renamed over the old one: a policy mapped before keeps its answers.
BOOST_AUTO_TEST_CASE(an_open_image_outlives_its_replacement) {
    const ConfigDir d;
    const std::string path = d.path + "/policy.image";
    const auto image_listing = [&](const char* address) {
        const CompiledConfig c = compile_config_text(std::string("routes = ( { domain = \"b.test\"; deliver_to = "
                                                                 "\"listed\"; addresses = [ \"") + address + "\" ]; } );",
                                                     "r.conf");
        BOOST_REQUIRE_MESSAGE(c.config.has_value(), errors_text(c));
        BOOST_REQUIRE_EQUAL(write_policy_image(*c.config, path), "");
        const Policy::Opened o = open_policy_image(path);
        BOOST_REQUIRE_MESSAGE(o.policy != nullptr, o.error);
        return o.policy;
    };
    const auto first = image_listing("a@b.test");
    const auto second = image_listing("c@b.test");
    BOOST_TEST((first->is_listed(0, "a@b.test") == std::optional<bool>(true)));
    BOOST_TEST((first->is_listed(0, "c@b.test") == std::optional<bool>(false)));
    BOOST_TEST((second->is_listed(0, "c@b.test") == std::optional<bool>(true)));
    BOOST_TEST((second->is_listed(0, "a@b.test") == std::optional<bool>(false)));
    // Where it cannot be written, it says so and leaves nothing behind.
    const CompiledConfig c = compile_config_text("scope = \"all\";", "s.conf");
    BOOST_REQUIRE(c.config.has_value());
    const std::string nowhere = d.path + "/missing/policy.image";
    const std::string why = write_policy_image(*c.config, nowhere);
    BOOST_TEST(why.find(d.path + "/missing/policy.image") != std::string::npos, why);
    BOOST_TEST(clear(why), why);
}

// The image records each source file as it was read; it is current while every one is unchanged.
BOOST_AUTO_TEST_CASE(an_image_is_current_until_a_source_changes) {
    struct Sources {
        ConfigDir d;
        std::string main, part, list;
        Sources() {
            part = d.write("part.conf", "local_domains = [ \"own.test\" ];\n");
            list = d.write("b.list", "a@b.test\nc@b.test\n", 0644);
            main = d.write("main.conf", "@include \"part.conf\"\nroutes = ( { domain = \"b.test\"; deliver_to = "
                                        "\"listed\"; addresses_file = \"b.list\"; } );\n");
        }
        std::shared_ptr<const Policy> compile() const {
            const std::string path = d.path + "/policy.image";
            BOOST_REQUIRE_EQUAL(write_policy_image(compiled_file(main), path), "");
            const Policy::Opened o = open_policy_image(path);
            BOOST_REQUIRE_MESSAGE(o.policy != nullptr, o.error);
            BOOST_REQUIRE(sources_of(o.policy->header()).size() == 3u);
            return o.policy;
        }
    };
    std::string why;
    // Just written: a write in the same clock tick as the read would leave every status alike.
    const Sources fresh;
    const auto unsettled = fresh.compile();
    BOOST_TEST(!image_is_current(*unsettled, fresh.main, why));
    BOOST_TEST(why.find("had just changed when it was read") != std::string::npos, why);

    Sources unchanged, touched, rewritten, chmodded, replaced, removed;
    std::this_thread::sleep_for(std::chrono::nanoseconds(source_settle_ns) + std::chrono::milliseconds(300));

    const auto current = unchanged.compile();
    BOOST_TEST(image_is_current(*current, unchanged.main, why), why);
    const std::string relative = std::filesystem::relative(unchanged.main).string();
    BOOST_TEST(image_is_current(*current, relative, why), relative << ": " << why);
    BOOST_TEST(!image_is_current(*current, touched.main, why));  // another config, the same text
    BOOST_TEST(why == "compiled from " + unchanged.main, why);
    BOOST_TEST(image_is_current(*current, unchanged.main, why), why);  // asking changes nothing
    // The settled read is current whenever asked again, however often the image is compiled.
    BOOST_TEST(image_is_current(*unchanged.compile(), unchanged.main, why), why);

    const auto expect_stale = [&](const Sources& s, const std::shared_ptr<const Policy>& p, const std::string& file) {
        BOOST_TEST(!image_is_current(*p, s.main, why), file);
        BOOST_TEST(why.find(file) == 0u, why);
    };
    auto p = touched.compile();
    BOOST_REQUIRE(image_is_current(*p, touched.main, why));
    BOOST_REQUIRE(::utimensat(AT_FDCWD, touched.main.c_str(), nullptr, 0) == 0);
    expect_stale(touched, p, touched.main);

    // The same bytes, its mtime set back: only its ctime tells.
    p = rewritten.compile();
    BOOST_REQUIRE(image_is_current(*p, rewritten.main, why));
    struct stat before {};
    BOOST_REQUIRE(::stat(rewritten.list.c_str(), &before) == 0);
    rewritten.d.write("b.list", "a@b.test\nc@b.test\n", 0644);
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    BOOST_REQUIRE(::utimensat(AT_FDCWD, rewritten.list.c_str(), times, 0) == 0);
    struct stat after {};
    BOOST_REQUIRE(::stat(rewritten.list.c_str(), &after) == 0);
    BOOST_REQUIRE(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
    BOOST_REQUIRE(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    BOOST_REQUIRE(after.st_size == before.st_size);
    expect_stale(rewritten, p, rewritten.list);

    p = chmodded.compile();
    BOOST_REQUIRE(image_is_current(*p, chmodded.main, why));
    BOOST_REQUIRE(::chmod(chmodded.part.c_str(), 0400) == 0);
    expect_stale(chmodded, p, chmodded.part);

    // Replaced by rename, the way editors and exporters write: a new inode.
    p = replaced.compile();
    BOOST_REQUIRE(image_is_current(*p, replaced.main, why));
    const std::string next = replaced.d.write("b.list.new", "a@b.test\nc@b.test\n", 0644);
    BOOST_REQUIRE(::rename(next.c_str(), replaced.list.c_str()) == 0);
    expect_stale(replaced, p, replaced.list);

    p = removed.compile();
    BOOST_REQUIRE(image_is_current(*p, removed.main, why));
    BOOST_REQUIRE(::unlink(removed.list.c_str()) == 0);
    expect_stale(removed, p, removed.list);
    BOOST_TEST(why.find("No such file or directory") != std::string::npos, why);
}

BOOST_AUTO_TEST_SUITE_END()
