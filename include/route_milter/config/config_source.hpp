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

#include "route_milter/common/safe_open.hpp"

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


}  // namespace route_milter
