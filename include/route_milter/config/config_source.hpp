// config_source.hpp - the config file and every file it @includes, checked and read as one text.
//
// libconfig 1.5 (Debian 12) has no include hook: its scanner fopen()s an `@include` itself and
// calls exit() when flex cannot read it (a directory), blocks on a FIFO, and checks nothing.
// So the loader never lets libconfig open a file. Each file is opened by FileOpener's rules
// (below: links, directories), stat()ed, opened without blocking, fstat()ed again through the
// open descriptor (the file that is read is the file that was checked) and read into memory;
// every `@include "name"` line is replaced by the checked text of its file, and libconfig
// parses the result from memory. A line map turns the lines of that text back into file:line.
// A UTF-8 byte-order mark that begins a file is left out of the text (Windows editors write
// one); CRLF lines need nothing (libconfig takes CR as a blank).
//
// An @include is recognised exactly where libconfig 1.5's scanner recognises one: at the start
// of a line (after spaces or tabs), outside /* */ comments and strings; the name ends at the next
// unescaped `"` (only \\ and \" are escapes). Relative names are taken from the directory of the
// main file (libconfig's include_dir, also inside included files), or from the working directory
// for text in memory; an absolute name is used as it is. Nesting is limited to 10 (libconfig's
// MAX_INCLUDE_DEPTH), and a file that includes itself, directly or not, is refused.
//
// DIAGNOSTICS
//   Problems with an @include (missing, unreadable, refused by FileOpener's rules, not a
//   regular file, too big, nested too deep, a cycle, a bad name or one holding a control
//   character, an included file that ends inside a comment or string) are
//   reported at the file:line of the directive, naming the file. A file that a group or other
//   users may write is reported under its own name. Any of the first kind leaves the text
//   incomplete (`complete` is false): it must not be parsed.
#pragma once

#include "route_milter/common/fd.hpp"

#include "route_milter/core/diagnostic.hpp"
#include "route_milter/core/source_file.hpp"

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace route_milter {

struct SourceLocation {
    std::uint32_t file = 0;  // index into ConfigSource::files
    unsigned line = 0;       // 1-based; 0: none
};

// A file the config was read from: the main file, an @include or an addresses_file.
struct InputFile {
    std::string name;    // as opened: the main file's path, the resolved @include or addresses_file path
    bool from_disk = false;
    std::array<unsigned char, 32> sha256{};  // of the bytes read (config_digest.hpp)
    bool addresses = false;  // an addresses_file (address_file.hpp), not config text
    SourceFile identity;     // as opened (source_file_of); empty for text that came from memory
};

class ConfigSource {
public:
    std::string text;               // what libconfig parses
    std::vector<InputFile> files;   // files[0]: the main file (or the name standing for the text)
    Diagnostics errors;
    bool complete = false;          // every file was read; `text` is the whole config

    // The file and line that line `text_line` (1-based) of `text` came from.
    SourceLocation locate(unsigned text_line) const;

    // Called while the text is built: text line `text_line` onwards comes from `file` at `line`.
    void map_from(unsigned text_line, std::uint32_t file, unsigned line);

private:
    struct Segment {
        unsigned text_line;
        SourceLocation from;
    };
    std::vector<Segment> segments_;
};

inline constexpr std::size_t max_config_file_bytes = 256u << 20;  // the config and its @includes together

ConfigSource read_config_source_file(const std::string& path);
ConfigSource read_config_source_text(std::string_view text, const std::string& name);


// How the loader opens every file it reads: the config, each @include and each addresses_file.
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
