// address_file.hpp - a route's `addresses_file`: one address per line, read without libconfig.
//
// NAME
//   AddressFileReader - parses the lines of an address file straight into ListedAddresses.
//   read_address_file - opens, checks and streams one file through it.
//   AddressFileQueue - the files of one load, read ahead on a second thread while one is parsed.
// SYNOPSIS
//   AddressFileReader reader(listed, route_index, pattern, file_index, "example.com.addresses");
//   reader.feed(chunk); ... reader.finish();  // reader.errors(), reader.count()
//   AddressFileQueue files(paths); read_address_file(files, reader);  // paths[0], then paths[1]...
// DESCRIPTION
//   One address per line, in any form an inline `addresses` entry takes ("Alice@Example.com",
//   "\"john doe\"@example.com", IDN); blanks around it and a trailing CR (CRLF lines) are
//   ignored, and so are empty lines, lines whose first non-blank character is '#' and a UTF-8
//   byte-order mark that begins the file (Windows editors write one). Each address is validated as
//   an inline one (local@domain, inside the route's domain) and appended in canonical form: no
//   std::string per address, no copy of the file. Duplicates are found by compile_policy.
//   The file is read in chunks, so a million-address file never sits in memory as text.
// DIAGNOSTICS
//   A bad line is one diagnostic "FILE:LINE: what (\"its first word\")", the word cut at
//   max_shown_word bytes and each control character shown as \xNN (printable.hpp): nothing
//   else of the line. The first max_shown_errors bad lines of a file are reported, then one
//   "FILE:LINE: and N more bad lines from here on, not shown". A byte-order mark anywhere but
//   at the start of the file is an error of its line. read_address_file returns why a file
//   cannot be used at all (missing, refused by FileOpener's rules on links and directories
//   (config_source.hpp), not a regular file, unreadable, too big), for the caller to report at
//   the config line that names it: such a file is not read. A file a group or other users may
//   write is a diagnostic under the file's own name.
#pragma once

#include "route_milter/core/address.hpp"
#include "route_milter/core/diagnostic.hpp"
#include "route_milter/core/listed_addresses.hpp"
#include "route_milter/core/route_pattern.hpp"

#include <sys/stat.h>
#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace route_milter {

inline constexpr std::size_t max_address_file_bytes = std::size_t{1} << 30;  // each file
// Longer lines cannot hold an address (max_address_length) and are not kept whole.
inline constexpr std::size_t max_address_line = 4096;
// What an error shows of a file: the first so many bad lines, each by its first word, cut at so
// many bytes (a reload's errors go to the daemon's log, which the file's writer may read).
inline constexpr std::size_t max_shown_errors = 10;
inline constexpr std::size_t max_shown_word = 64;

class AddressFileReader {
public:
    AddressFileReader(ListedAddresses& listed, std::uint32_t route, const RoutePattern& pattern, std::uint32_t file,
                      std::string name)
        : listed_(listed), route_(route), pattern_(pattern), file_(file), name_(std::move(name)) {}

    void feed(std::string_view chunk);
    void finish();  // the last line may lack its '\n'
    void expect_bytes(std::size_t bytes) { listed_.reserve_bytes(route_, bytes); }

    std::size_t count() const { return count_; }
    Diagnostics& errors() { return errors_; }

private:
    void line(std::string_view text, bool overlong);

    ListedAddresses& listed_;
    std::uint32_t route_;
    const RoutePattern& pattern_;
    std::uint32_t file_;
    std::string name_;
    std::string partial_;  // a line split between two chunks
    bool overlong_ = false;  // the line in progress passed max_address_line
    unsigned line_ = 0;
    std::size_t count_ = 0;
    Diagnostics errors_;
    std::size_t unshown_ = 0;     // bad lines past max_shown_errors
    unsigned first_unshown_ = 0;  // the first of them
    NormalizedAddress parsed_;
};

struct AddressFileRead {
    std::optional<std::string> unusable;  // why the file cannot be read at all
    mode_t mode = 0;
    std::array<unsigned char, 32> sha256{};  // of the bytes read, for the config digest
    std::uint64_t status = 0;       // file_status (config_source.hpp) of the file as opened
    std::int64_t unchanged_ns = 0;  // how long it had been unchanged then (clock - newer of mtime, ctime)
};

// A reload takes an address file as the one the running policy read, without reading it again,
// when its status (device, inode, size, mode, owner, mtime and ctime, to the nanosecond) is the
// one it was read under. Any write, rename over it, chmod or chown changes the ctime, which
// no one can set back; but a write within the same tick of the file system's clock as the read
// may leave it as it was. So a file is trusted only if it had been unchanged for
// `address_file_settle` when it was opened; a younger one is read again on the next reload.
inline constexpr std::int64_t address_file_settle_ns = 10'000'000'000;  // 10 s: coarse clocks, vfat's 2 s, NFS

// What read_address_file's result says a reload may trust: its status, or 0.
std::uint64_t trusted_status(const AddressFileRead& read, std::int64_t settle_ns = address_file_settle_ns);

// The file_status of each path and its mode, as a reload finds them now (FileOpener::status:
// by the rules a read would apply; on NFS asked of the server): status 0 where there is none
// to be had, the file is not a regular one or the rules refuse it (read it: that says why). Most share a directory, opened once per run of them. With many paths up
// to `threads` threads (the caller's among them) take blocks of 256 in turn (on NFS each
// status is a round trip). Two: four were no faster on two cores, idle or under load.
struct FileStatuses {
    std::vector<std::uint64_t> status;
    std::vector<mode_t> mode;
    std::size_t threads = 1;  // how many took part, the caller's included
};
inline constexpr std::size_t file_status_threads = 2;
FileStatuses address_file_statuses(const std::vector<const std::string*>& paths,
                                   std::size_t threads = file_status_threads);

// Streams `path` through `reader` in pieces of buffer.size(); the reader holds what was found.
AddressFileRead read_address_file(const std::string& path, AddressFileReader& reader, std::vector<char>& buffer);
// The same reading, to the mode and sha256 only: nothing is parsed or stored (a reload telling
// whether a file is byte for byte the one the running policy was built from).
AddressFileRead hash_address_file(const std::string& path, std::vector<char>& buffer);

// The address files of one load, taken one after the other in the order given. With many files
// threads of their own (Limits::readers, each every readers-th file) open, read and hash the
// next ones while the caller parses (the two cores overlap the system calls and parsing); with
// few, each file is read when taken, on the caller's thread. Either way a file gives what
// read_address_file gives for its path, to the letter of the unusable reasons. Read ahead are at
// most `bytes_ahead` bytes (a file larger than `piece` comes in pieces; with a second reader, a
// piece of one file each) and `files_ahead` files. Destroying the queue stops the threads and
// joins them, whether or not every file was taken; an exception on a thread is thrown by the
// take that reaches the file it failed on.
class AddressFileQueue {
public:
    struct Limits {
        std::size_t threaded_from = 64;  // fewer files are read when taken
        std::size_t bytes_ahead = std::size_t{8} << 20;
        std::size_t files_ahead = 1024;
        std::size_t piece = std::size_t{1} << 20;  // the most one read asks for
        // Threads reading ahead, each every readers-th file with its share of the limits above:
        // on two cores, two readers and the parsing caller share the system calls' time.
        std::size_t readers = 2;
        // Called on the reading thread before each file (tests make it throw).
        void (*before_file)(const std::string& path) = nullptr;
    };
    // What is read but not yet taken once the thread has stopped for room or at the end.
    struct Ahead {
        std::size_t bytes = 0;
        std::size_t files = 0;
    };

    explicit AddressFileQueue(std::vector<std::string> paths);
    AddressFileQueue(std::vector<std::string> paths, Limits limits);
    // The paths are the caller's, which must outlive the queue (the loader's file table: a
    // hundred thousand paths are not copied for it).
    explicit AddressFileQueue(std::vector<const std::string*> paths);
    AddressFileQueue(std::vector<const std::string*> paths, Limits limits);
    AddressFileQueue(const AddressFileQueue&) = delete;
    AddressFileQueue& operator=(const AddressFileQueue&) = delete;
    ~AddressFileQueue();

    bool threaded() const;
    // Waits until the thread (if any) has read as far ahead as it may, then says how far that is.
    Ahead settle();
    // The next file through `reader` (nullptr: to its mode and sha256 only).
    AddressFileRead take(AddressFileReader* reader);

private:
    struct Shared;  // one lane: a reading thread (or none) and its files
    void start(std::vector<const std::string*> paths, Limits limits);
    std::vector<std::string> owned_;  // the paths, when given as strings
    std::vector<std::unique_ptr<Shared>> lanes_;
    std::size_t total_ = 0;
    std::size_t next_ = 0;  // the file the next take gives
};

// The next file of `files`, as read_address_file / hash_address_file read a path.
AddressFileRead read_address_file(AddressFileQueue& files, AddressFileReader& reader);
AddressFileRead hash_address_file(AddressFileQueue& files);

}  // namespace route_milter
