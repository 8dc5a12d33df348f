// AddressFileQueue: the files of one load read ahead on a second thread, taken in order, each
// giving what read_address_file gives for its path.
#define BOOST_TEST_DYN_LINK
#include "route_milter/config/address_file.hpp"
#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/listed_addresses.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>

using namespace route_milter;
using testing::ConfigDir;

namespace {

// What one file gave: the read's facts and everything the reader kept of it.
struct Taken {
    AddressFileRead read;
    std::size_t count = 0;
    std::string errors;
    std::string records;
};

const RoutePattern& route_a() {
    static const RoutePattern pattern = std::get<RoutePattern>(RoutePattern::parse("a.example"));
    return pattern;
}

template <typename Read>
Taken take_with(std::uint32_t file, const std::string& name, Read&& read) {
    ListedAddresses store;
    AddressFileReader reader(store, 0, route_a(), file, name);
    Taken out;
    out.read = read(reader);
    out.count = reader.count();
    for (const Diagnostic& d : reader.errors()) out.errors += format_diagnostic(d) + "\n";
    for (const ListedAddresses::Record& r : store.records())
        out.records += std::string(store.text(r)) + ":" + std::to_string(r.line) + "\n";
    return out;
}

void same(const Taken& got, const Taken& want, const std::string& path) {
    BOOST_TEST(got.read.unusable.value_or("usable") == want.read.unusable.value_or("usable"), path);
    BOOST_TEST(got.read.mode == want.read.mode, path);
    BOOST_TEST((got.read.sha256 == want.read.sha256), path);
    BOOST_TEST(got.count == want.count, path);
    BOOST_TEST(got.errors == want.errors, path);
    BOOST_TEST(got.records == want.records, path);
}

// Files of every kind the loader meets, in two directories; the paths in the order to read them.
std::vector<std::string> every_kind(const ConfigDir& d) {
    BOOST_REQUIRE(mkdir((d.path + "/other").c_str(), 0755) == 0);
    BOOST_REQUIRE(mkdir((d.path + "/adir").c_str(), 0755) == 0);
    BOOST_REQUIRE(mkfifo((d.path + "/fifo").c_str(), 0600) == 0);
    std::string big;  // many pieces when pieces are small
    for (int i = 0; i < 500; ++i) big += "user" + std::to_string(i) + "@a.example\n";
    d.write("big.list", big + "bad line\nlast@a.example");
    d.write("empty.list", "");
    d.write("other/o.list", "o@a.example\r\n# note\nx@b.example\n", 0664);
    const std::string huge = d.write("huge.list", "");
    BOOST_REQUIRE(truncate(huge.c_str(), static_cast<off_t>(max_address_file_bytes) + 1) == 0);  // sparse
    std::vector<std::string> paths;
    for (int i = 0; i < 40; ++i)
        paths.push_back(d.write("f" + std::to_string(i) + ".list", "n" + std::to_string(i) + "@a.example\n"));
    const std::vector<std::string> odd = {
        d.path + "/big.list",  d.path + "/missing.list",  d.path + "/adir",     d.path + "/fifo",
        d.path + "/huge.list", d.path + "/other/o.list",  d.path + "/empty.list", d.path + "/f1.list/x",
        "/proc/self/mem",  // a regular file whose read fails (EIO)
        d.path + "/" + std::string(300, 'n'), d.path + "/missing-dir/x.list", d.path + "/big.list",
    };
    for (std::size_t i = 0; i < odd.size(); ++i) paths.insert(paths.begin() + static_cast<long>(3 * i + 1), odd[i]);
    return paths;
}

std::vector<Taken> sequential(const std::vector<std::string>& paths) {
    std::vector<char> buffer(std::size_t{1} << 16);
    std::vector<Taken> out;
    for (std::uint32_t i = 0; i < paths.size(); ++i)
        out.push_back(take_with(i, paths[i], [&](AddressFileReader& r) { return read_address_file(paths[i], r, buffer); }));
    return out;
}

std::atomic<int> files_begun{0};
void count_file(const std::string&) { ++files_begun; }
void fail_at_f3(const std::string& path) {
    if (path.ends_with("/f3.list")) throw std::runtime_error("disk on fire at f3");
}

}  // namespace

BOOST_AUTO_TEST_SUITE(address_file_queue)

BOOST_AUTO_TEST_CASE(each_file_comes_in_order_as_the_path_reader_gives_it) {
    const ConfigDir d;
    const std::vector<std::string> paths = every_kind(d);
    const std::vector<Taken> want = sequential(paths);
    // The reasons themselves, so that both readers cannot drift together.
    const auto reason = [&](const std::string& path) {
        for (std::size_t i = 0; i < paths.size(); ++i)
            if (paths[i] == path) return want[i].read.unusable.value_or("usable");
        return std::string("not listed");
    };
    BOOST_TEST(reason(d.path + "/missing.list") == "cannot read the file (No such file or directory)");
    BOOST_TEST(reason(d.path + "/missing-dir/x.list") == "cannot read the file (No such file or directory)");
    BOOST_TEST(reason(d.path + "/f1.list/x") == "cannot read the file (Not a directory)");
    BOOST_TEST(reason(d.path + "/" + std::string(300, 'n')) == "cannot read the file (File name too long)");
    BOOST_TEST(reason(d.path + "/adir") == "not a regular file (a directory)");
    BOOST_TEST(reason(d.path + "/fifo") == "not a regular file (a FIFO)");
    BOOST_TEST(reason(d.path + "/huge.list") == "too big (1073741825 bytes; an address file may hold 1073741824)");
    BOOST_TEST(reason("/proc/self/mem") == "cannot read the file (Input/output error)");
    BOOST_TEST(reason(d.path + "/big.list") == "usable");
    BOOST_TEST(want[1].count == 501u);  // big.list
    BOOST_TEST(want[1].errors.find("big.list:501: invalid character (\"bad\", then more on the line)") != std::string::npos, want[1].errors);

    struct Way {
        const char* name;
        AddressFileQueue::Limits limits;
        bool threaded;
    };
    const std::vector<Way> ways = {
        {"default", {}, false},  // fewer files than threaded_from
        {"threaded", {.threaded_from = 1}, true},  // two readers
        {"one reader", {.threaded_from = 1, .readers = 1}, true},
        {"three readers", {.threaded_from = 1, .readers = 3}, true},
        {"one reader, tiny pieces", {.threaded_from = 1, .bytes_ahead = 64, .files_ahead = 2, .piece = 7, .readers = 1}, true},
        {"tiny pieces", {.threaded_from = 1, .bytes_ahead = 64, .files_ahead = 2, .piece = 7}, true},
        {"one file ahead", {.threaded_from = 1, .bytes_ahead = 1, .files_ahead = 1, .piece = 4096}, true},
        {"without a thread", {.threaded_from = 1000}, false},
    };
    for (const Way& way : ways) {
        AddressFileQueue files(paths, way.limits);
        BOOST_TEST(files.threaded() == way.threaded, way.name);
        for (std::uint32_t i = 0; i < paths.size(); ++i)
            same(take_with(i, paths[i], [&](AddressFileReader& r) { return read_address_file(files, r); }), want[i],
                 std::string(way.name) + ": " + paths[i]);
        BOOST_CHECK_THROW(hash_address_file(files), std::logic_error);  // every file taken
    }
    // Hashing only: the same facts, nothing parsed.
    AddressFileQueue files(paths, {.threaded_from = 1, .piece = 100});
    std::vector<char> buffer(std::size_t{1} << 16);
    for (const std::string& path : paths) {
        const AddressFileRead got = hash_address_file(files);
        const AddressFileRead path_read = hash_address_file(path, buffer);
        BOOST_TEST(got.unusable.value_or("usable") == path_read.unusable.value_or("usable"), path);
        BOOST_TEST((got.sha256 == path_read.sha256), path);
        BOOST_TEST(got.mode == path_read.mode, path);
    }
}

BOOST_AUTO_TEST_CASE(a_load_of_many_files_reads_them_ahead) {
    BOOST_TEST(!AddressFileQueue(std::vector<std::string>(63, "/nonexistent")).threaded());
    BOOST_TEST(AddressFileQueue(std::vector<std::string>(64, "/nonexistent")).threaded());
    AddressFileQueue none(std::vector<std::string>{}, {.threaded_from = 0});  // no files: no thread, whatever the limits
    BOOST_TEST(!none.threaded());
    BOOST_CHECK_THROW(hash_address_file(none), std::logic_error);
}

BOOST_AUTO_TEST_CASE(what_is_read_ahead_stays_within_the_limits) {
    const ConfigDir d;
    std::vector<std::string> paths;
    for (int i = 0; i < 50; ++i) paths.push_back(d.write("f" + std::to_string(i), std::string(999, '#') + "\n"));
    {
        AddressFileQueue files(paths, {.threaded_from = 1, .bytes_ahead = 3000, .files_ahead = 100, .piece = 512, .readers = 1});
        BOOST_TEST(files.settle().bytes >= 3000u - 512u);  // it did read ahead, as far as it may
        for (int round = 0; round < 20; ++round) {
            const AddressFileQueue::Ahead ahead = files.settle();
            BOOST_TEST(ahead.bytes <= 3000u, round);
            BOOST_TEST(hash_address_file(files).unusable.value_or("usable") == "usable");
        }
    }
    {
        AddressFileQueue files(paths, {.threaded_from = 1, .files_ahead = 4, .readers = 1});
        BOOST_TEST(files.settle().files == 4u);
        for (int round = 0; round < 20; ++round) {
            const std::size_t ahead = files.settle().files;
            BOOST_TEST((ahead >= 2u && ahead <= 4u), round);  // it goes on once half is taken
            BOOST_TEST(hash_address_file(files).unusable.value_or("usable") == "usable");
        }
    }
    {
        // Two readers share the limits: 2 files and 1500 bytes each.
        AddressFileQueue files(paths, {.threaded_from = 1, .bytes_ahead = 3000, .files_ahead = 4, .piece = 512});
        BOOST_TEST(files.settle().files == 4u);
        for (int round = 0; round < 20; ++round) {
            const AddressFileQueue::Ahead ahead = files.settle();
            BOOST_TEST((ahead.files >= 2u && ahead.files <= 4u), round);
            BOOST_TEST(ahead.bytes <= 3000u, round);
            BOOST_TEST(hash_address_file(files).unusable.value_or("usable") == "usable");
        }
    }
    // A file larger than bytes_ahead still comes, one piece at a time.
    const std::string large = d.write("large", std::string(10000, '#') + "\nx@a.example\n");
    AddressFileQueue files({large, large}, {.threaded_from = 1, .bytes_ahead = 1000, .piece = 4096, .readers = 1});
    BOOST_TEST(files.settle().bytes <= 4096u);
    BOOST_TEST(take_with(0, large, [&](AddressFileReader& r) { return read_address_file(files, r); }).count == 1u);
}

BOOST_AUTO_TEST_CASE(stopping_early_stops_and_joins_the_thread) {
    const ConfigDir d;
    std::vector<std::string> paths;
    for (int i = 0; i < 100; ++i) paths.push_back(d.write("f" + std::to_string(i), "x@a.example\n"));
    files_begun = 0;
    {
        AddressFileQueue files(paths, {.threaded_from = 1, .files_ahead = 3, .readers = 1, .before_file = count_file});
        BOOST_TEST(files.settle().files == 3u);  // the thread waits for room
        BOOST_TEST(hash_address_file(files).unusable.value_or("usable") == "usable");
        files.settle();
    }  // and is woken to stop: were it not, this would never return
    BOOST_TEST(files_begun.load() <= 5);
    {
        AddressFileQueue files(paths, {.threaded_from = 1, .before_file = count_file});
    }  // nothing taken
    // A taker that throws leaves by the destructor too.
    BOOST_CHECK_THROW(
        {
            AddressFileQueue files(paths, {.threaded_from = 1, .files_ahead = 2});
            hash_address_file(files);
            throw std::runtime_error("the parser gave up");
        },
        std::runtime_error);
}

BOOST_AUTO_TEST_CASE(an_exception_on_the_thread_is_thrown_where_its_file_is_taken) {
    const ConfigDir d;
    std::vector<std::string> paths;
    for (int i = 0; i < 6; ++i) paths.push_back(d.write("f" + std::to_string(i) + ".list", "x@a.example\n"));
    AddressFileQueue files(paths, {.threaded_from = 1, .before_file = fail_at_f3});
    for (int i = 0; i < 3; ++i) BOOST_TEST(hash_address_file(files).unusable.value_or("usable") == "usable", i);
    BOOST_CHECK_EXCEPTION(hash_address_file(files), std::runtime_error,
                          [](const std::runtime_error& e) { return std::string(e.what()) == "disk on fire at f3"; });
}

// The loader takes many files through the queue: the same policy, the same errors at the same lines.
BOOST_AUTO_TEST_CASE(a_config_of_many_files_loads_as_one_of_few) {
    const ConfigDir d;
    std::string routes = "routes = (\n";
    for (int i = 0; i < 80; ++i) {
        const std::string domain = "d" + std::to_string(i) + ".example";
        if (i != 41) d.write(domain, "a@" + domain + "\nb@" + domain + (i == 7 ? "\nc@elsewhere.example\n" : "\n"));
        routes += "  { domain = \"" + domain + "\"; deliver_to = \"listed\"; addresses_file = \"" + domain + "\"; },\n";
    }
    routes.resize(routes.size() - 2);
    const std::string main = d.write("main.conf", routes + "\n);\n");
    const PolicyResult r = load_policy_file(main);
    BOOST_TEST(r.policy == nullptr);
    const std::string e = testing::errors_text(r);
    BOOST_TEST(e.find(main + ":43: routes[41].addresses_file: cannot read the file (No such file or directory) (\"d41.example\", " +
                      d.path + "/d41.example)") != std::string::npos, e);
    BOOST_TEST(e.find(d.path + "/d7.example:3: address outside the route's domain d7.example (\"c@elsewhere.example\")") !=
                   std::string::npos, e);
    BOOST_TEST(r.errors.size() == 2u, e);
    d.write("d41.example", "a@d41.example\n");
    d.write("d7.example", "a@d7.example\nb@d7.example\n");
    const PolicyResult good = load_policy_file(main);
    BOOST_REQUIRE_MESSAGE(good.policy != nullptr, testing::errors_text(good));
    BOOST_TEST(good.policy->listed_address_count() == 159u);
    BOOST_TEST(good.policy->listed_address_count(good.policy->config().routes[41]) == 1u);
    // A reload over the same files keeps the running index (the files hashed through the queue).
    const PolicyResult again = load_policy_file(main, UserCheck::config_user, ListedAddressUse::into_index, good.policy.get());
    BOOST_REQUIRE_MESSAGE(again.policy != nullptr, testing::errors_text(again));
    BOOST_TEST(again.policy->listed_address_count() == 159u);
    BOOST_TEST(again.policy->config().digest == good.policy->config().digest);
}

BOOST_AUTO_TEST_SUITE_END()
