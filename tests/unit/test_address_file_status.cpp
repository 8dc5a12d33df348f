// A reload takes an address file whose status (inode, size, mode, owner, times) is the one the
// running policy read it under as read, without reading it again; any other file is read, and a
// file that changed shortly before it was read is read again on the next reload.
#define BOOST_TEST_DYN_LINK
#include "route_milter/config/address_file.hpp"
#include "route_milter/config/config_source.hpp"
#include "route_milter/config/load_policy.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

using namespace route_milter;
using testing::ConfigDir;
using testing::rule_for;
using testing::errors_text;

namespace {

// Six routes d0.test .. d5.test, each listing u1 and u2 of its domain in dN.list.
struct SixRoutes {
    ConfigDir dir;
    std::string main;

    SixRoutes() {
        std::string text = "routes = (\n";
        for (int i = 0; i < 6; ++i) {
            const std::string n = std::to_string(i);
            dir.write("d" + n + ".list", "u1@d" + n + ".test\nu2@d" + n + ".test\n");
            text += std::string(i == 0 ? "" : ",\n") + "  { domain = \"d" + n +
                    ".test\"; treat_recipient_as = \"local\"; deliver_to = \"listed\"; addresses_file = \"d" + n +
                    ".list\"; }";
        }
        main = dir.write("main.conf", text + "\n);\n");
        // Whatever is written from now on gets a newer change time, however coarse the clock.
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::string list(int i) const { return dir.path + "/d" + std::to_string(i) + ".list"; }
};

PolicyResult reload(const std::string& main, const PolicyResult& running, std::int64_t settle_ns) {
    PolicyResult next =
        load_policy_file(main, UserCheck::skip, ListedAddressUse::into_index, running.policy.get(), settle_ns);
    return next;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reload_by_status)

BOOST_AUTO_TEST_CASE(unchanged_files_are_not_read_again_and_every_change_is_seen) {
    SixRoutes c;
    const PolicyResult first = load_policy_file(c.main, UserCheck::skip, ListedAddressUse::into_index, nullptr, 0);
    BOOST_REQUIRE_MESSAGE(first.policy != nullptr, errors_text(first));
    BOOST_TEST(first.policy->config().address_files_unread == 0u);  // nothing to compare with

    // Nothing changed: no file is read, and the policy is the same to its digest.
    const PolicyResult same = reload(c.main, first, 0);
    BOOST_REQUIRE_MESSAGE(same.policy != nullptr, errors_text(same));
    BOOST_TEST(same.policy->config().address_files_unread == 6u);
    BOOST_TEST(same.policy->config().digest == first.policy->config().digest);
    BOOST_TEST(rule_for(*same.policy, "u2@d2.test") == "no-objection");
    BOOST_TEST(rule_for(*same.policy, "u3@d2.test") == "not-listed");

    // d2.list: other bytes of the same size, its mtime put back. The ctime tells.
    struct stat st {};
    BOOST_REQUIRE(::stat(c.list(2).c_str(), &st) == 0);
    c.dir.write("d2.list", "u1@d2.test\nu3@d2.test\n");
    const struct timespec times[2] = {st.st_atim, st.st_mtim};
    BOOST_REQUIRE(::utimensat(AT_FDCWD, c.list(2).c_str(), times, 0) == 0);
    const PolicyResult changed = reload(c.main, same, 0);
    BOOST_REQUIRE_MESSAGE(changed.policy != nullptr, errors_text(changed));
    BOOST_TEST(changed.policy->config().address_files_unread == 5u);
    BOOST_TEST(rule_for(*changed.policy, "u2@d2.test") == "not-listed");
    BOOST_TEST(rule_for(*changed.policy, "u3@d2.test") == "no-objection");
    // The digest is the one a first load of these files gives: the sha256 taken over is right.
    const PolicyResult fresh = load_policy_file(c.main, UserCheck::skip, ListedAddressUse::into_index, nullptr, 0);
    BOOST_REQUIRE(fresh.policy != nullptr);
    BOOST_TEST(changed.policy->config().digest == fresh.policy->config().digest);
    BOOST_TEST(changed.policy->config().digest != first.policy->config().digest);

    // d3.list replaced by a copy (another inode, the same bytes): read, and its shard kept.
    c.dir.write("d3.new", "u1@d3.test\nu2@d3.test\n");
    BOOST_REQUIRE(std::rename((c.dir.path + "/d3.new").c_str(), c.list(3).c_str()) == 0);
    const PolicyResult renamed = reload(c.main, changed, 0);
    BOOST_REQUIRE_MESSAGE(renamed.policy != nullptr, errors_text(renamed));
    BOOST_TEST(renamed.policy->config().address_files_unread == 5u);
    BOOST_TEST(renamed.policy->config().digest == changed.policy->config().digest);

    // d4.list made group-writable: its mode is looked at again, and the reload refused.
    BOOST_REQUIRE(::chmod(c.list(4).c_str(), 0620) == 0);
    const PolicyResult writable = reload(c.main, renamed, 0);
    BOOST_TEST(writable.policy == nullptr);
    BOOST_TEST(errors_text(writable).find(c.list(4) + ": group or other users can write it") != std::string::npos,
               errors_text(writable));
    BOOST_REQUIRE(::chmod(c.list(4).c_str(), 0600) == 0);

    // d5.list gone: the error names the config line, as on a first load.
    BOOST_REQUIRE(::unlink(c.list(5).c_str()) == 0);
    const PolicyResult gone = reload(c.main, renamed, 0);
    BOOST_TEST(gone.policy == nullptr);
    BOOST_TEST(errors_text(gone).find("addresses_file: cannot read the file (No such file or directory)") !=
                   std::string::npos,
               errors_text(gone));
}

// With the real settling time, files written just now are not trusted: the next reload reads
// them all again (a write in the same clock tick as the read could leave the status unchanged).
BOOST_AUTO_TEST_CASE(a_file_changed_shortly_before_it_was_read_is_read_again) {
    SixRoutes c;
    const PolicyResult first = load_policy_file(c.main, UserCheck::skip);
    BOOST_REQUIRE_MESSAGE(first.policy != nullptr, errors_text(first));
    const PolicyResult again = reload(c.main, first, address_file_settle_ns);
    BOOST_REQUIRE_MESSAGE(again.policy != nullptr, errors_text(again));
    BOOST_TEST(again.policy->config().address_files_unread == 0u);
    BOOST_TEST(again.policy->config().listed.kept_shards().count() == again.policy->config().listed.shards_in_use());
    // Read under a settling time of 0, the same files are trusted from then on.
    const PolicyResult trusted = reload(c.main, again, 0);
    BOOST_REQUIRE(trusted.policy != nullptr);
    const PolicyResult after = reload(c.main, trusted, address_file_settle_ns);
    BOOST_REQUIRE(after.policy != nullptr);
    BOOST_TEST(after.policy->config().address_files_unread == 6u);
}

// None to 1,000 paths, on up to 1 to 8 threads (one more per block of 256 beyond the first):
// each one's status is what stat(2) gives, 0 for a missing file, a directory and a FIFO (never
// opened), through a symbolic link the target's.
BOOST_AUTO_TEST_CASE(statuses_are_each_files_own_on_any_number_of_threads) {
    ConfigDir d;
    BOOST_REQUIRE(::mkdir((d.path + "/dir").c_str(), 0700) == 0);
    BOOST_REQUIRE(::mkfifo((d.path + "/fifo").c_str(), 0600) == 0);
    d.write("target", "a@b.test\n");
    BOOST_REQUIRE(::symlink("target", (d.path + "/link").c_str()) == 0);
    for (const std::size_t count : {std::size_t{0}, std::size_t{3}, std::size_t{100}, std::size_t{257},
                                    std::size_t{1000}}) {
        std::vector<std::string> names;
        for (std::size_t i = 0; i < count; ++i) {
            switch (i % 7) {
            case 0: names.push_back(d.path + "/missing" + std::to_string(i)); break;
            case 1: names.push_back(d.path + "/dir"); break;
            case 2: names.push_back(d.path + "/fifo"); break;
            case 3: names.push_back(d.path + "/link"); break;
            default: names.push_back(d.write("f" + std::to_string(i), std::string(i, 'x')));
            }
        }
        std::vector<const std::string*> paths;
        for (const std::string& n : names) paths.push_back(&n);
        for (const std::size_t threads : {std::size_t{1}, std::size_t{2}, std::size_t{4}, std::size_t{8}}) {
            BOOST_TEST_CONTEXT(count << " paths, up to " << threads << " threads") {
                const FileStatuses got = address_file_statuses(paths, threads);
                BOOST_TEST(got.threads == std::max<std::size_t>(1, std::min(threads, (count + 255) / 256)));
                BOOST_REQUIRE(got.status.size() == count);
                BOOST_REQUIRE(got.mode.size() == count);
                for (std::size_t i = 0; i < count; ++i) {
                    struct stat st {};
                    const bool regular = ::stat(names[i].c_str(), &st) == 0 && S_ISREG(st.st_mode);
                    BOOST_TEST(got.status[i] == (regular ? file_status(st) : 0u), names[i]);
                    BOOST_TEST(got.mode[i] == (regular ? st.st_mode : 0u), names[i]);
                }
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(the_status_covers_every_field_and_is_never_zero) {
    struct stat base {};
    base.st_dev = 1;
    base.st_ino = 2;
    base.st_size = 3;
    base.st_mode = S_IFREG | 0644;
    base.st_uid = 4;
    base.st_gid = 5;
    base.st_mtim = {6, 7};
    base.st_ctim = {8, 9};
    const std::uint64_t was = file_status(base);
    BOOST_TEST(was != 0u);
    const std::vector<void (*)(struct stat&)> changes = {
        [](struct stat& s) { ++s.st_dev; },          [](struct stat& s) { ++s.st_ino; },
        [](struct stat& s) { ++s.st_size; },         [](struct stat& s) { s.st_mode |= 020; },
        [](struct stat& s) { ++s.st_uid; },          [](struct stat& s) { ++s.st_gid; },
        [](struct stat& s) { ++s.st_mtim.tv_sec; },  [](struct stat& s) { ++s.st_mtim.tv_nsec; },
        [](struct stat& s) { ++s.st_ctim.tv_sec; },  [](struct stat& s) { ++s.st_ctim.tv_nsec; },
    };
    for (std::size_t i = 0; i < changes.size(); ++i) {
        struct stat other = base;
        changes[i](other);
        BOOST_TEST(file_status(other) != was, "field " << i);
    }
    // A read is trusted only once it had settled, and never when the file could not be read.
    AddressFileRead read;
    read.status = was;
    read.unchanged_ns = address_file_settle_ns - 1;
    BOOST_TEST(trusted_status(read) == 0u);
    read.unchanged_ns = address_file_settle_ns;
    BOOST_TEST(trusted_status(read) == was);
    read.unusable = "cannot read the file";
    BOOST_TEST(trusted_status(read) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
