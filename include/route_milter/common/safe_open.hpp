// safe_open.hpp - open a file only where nobody but root, the reader and its owner could have put it.
#pragma once

#include "route_milter/common/fd.hpp"
#include "route_milter/core/source_file.hpp"

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace route_milter {

// How the config loader opens every file it reads: the config, each @include and each addresses_file.
// Like ssh's StrictModes and Postfix's safe_open, it reads a file only where no one but root,
// the reading user (the process's effective user) and the file's own owner could have put it:
//  - a symbolic link, on the way or at the end of a path, is followed only when root or the
//    reading user owns it, in a directory that root or the reading user owns and no group or
//    other user may write; any other link is refused, not followed;
//  - the file must be a regular file (checked on the open descriptor: what is read is what was
//    checked); a directory, FIFO or device is never opened;
//  - the directory that holds it must be writable by its owner alone (no group or other write
//    bit), and that owner must be root, the reading user or the file's owner: whoever may add
//    names to a directory could link any file of the file system into it, so a directory
//    delegated to a user (chown alice lists/alice) gives only that user's own files.
// A file's own group and other write bits are the loader's to judge (a diagnostic of their own).
// The directory of the file opened last is kept open: most address files share one, which is
// then walked once, not once per file.
// DIAGNOSTICS
//   open() says why a file is refused: "cannot read the file (strerror)", "not a
//   regular file (a directory)", "a symbolic link (PATH) made by USER: ...", "its directory
//   (DIR) can be written by its group or other users (mode 0777): ...", "its directory (DIR)
//   belongs to USER and the file to USER: ...". None of them holds a byte of the file.
class FileOpener {
public:
    FileOpener();
    FileOpener(const FileOpener&) = delete;
    FileOpener& operator=(const FileOpener&) = delete;
    ~FileOpener();

    // Opens `path` read-only, or says why not; `opened`: the open file's identity (source_file_of,
    // the clock read before the open).
    std::variant<Fd, std::string> open(const std::string& path, SourceFile& opened);

    struct Place;  // a directory reached by the rules

private:
    // The directory `path` names its file in, walked by the rules (kept for the next path in
    // the same directory), and the file's last name; or why the directory is refused.
    const Place* directory_of(const std::string& path, std::string& name, std::string& why);

    uid_t reader_;
    std::string directory_text_;  // the directory part of the path last opened
    bool have_directory_ = false;
    std::unique_ptr<Place> directory_;  // nullptr: refused (why in directory_why_)
    std::string directory_why_;
};

// Reads the open file `fd` (`size` bytes when opened) to its end through `buffer`, handing each
// piece read to `chunk`. Why it cannot be read, or nullopt: a read error, or more than
// `max_bytes` ("too big (N bytes; " + `limit` + ")").
std::optional<std::string> read_to_end(const Fd& fd, std::uint64_t size, std::size_t max_bytes, std::string_view limit,
                                       std::vector<char>& buffer, const std::function<void(std::string_view)>& chunk);

// The identity of the open file `st` describes (fstat() of its descriptor, before a byte is
// read), `now` being the clock read before it was opened: settled when its ctime is at least
// source_settle_ns older than that.
SourceFile source_file_of(const struct stat& st, const struct timespec& now);

// "0644"
std::string mode_text(mode_t mode);

}  // namespace route_milter
