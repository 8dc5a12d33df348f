// address_file.hpp - a route's `addresses_file`: one address per line, read without libconfig.
//
// NAME
//   AddressFileReader - parses the lines of an address file straight into ListedAddresses.
//   read_address_file - opens, checks and streams one file through it.
// SYNOPSIS
//   AddressFileReader reader(listed, route_index, pattern, file_index, "example.com.addresses");
//   reader.feed(chunk); ... reader.finish();  // reader.errors(), reader.count()
//   read_address_file(opener, path, reader, buffer);  // the same, from the file
// DESCRIPTION
//   One address per line, in any form an inline `addresses` entry takes ("Alice@Example.com",
//   "\"john doe\"@example.com", IDN); blanks around it and a trailing CR (CRLF lines) are
//   ignored, and so are empty lines, lines whose first non-blank character is '#' and a UTF-8
//   byte-order mark that begins the file (Windows editors write one). Each address is validated as
//   an inline one (local@domain, inside the route's domain) and appended in canonical form: no
//   std::string per address, no copy of the file. Duplicates are found by compile_checks.
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
#include "route_milter/core/source_file.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
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
    void expect_bytes(std::size_t bytes) { listed_.reserve_bytes(bytes); }

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

class FileOpener;  // config_source.hpp

struct AddressFileRead {
    std::optional<std::string> unusable;  // why the file cannot be read at all
    std::array<unsigned char, 32> sha256{};  // of the bytes read, for the config digest
    SourceFile identity;  // as opened (config_source.hpp, source_file_of)
};

// Opens `path` by `opener`'s rules and streams it through `reader` in pieces of buffer.size();
// the reader holds what was found.
AddressFileRead read_address_file(FileOpener& opener, const std::string& path, AddressFileReader& reader,
                                  std::vector<char>& buffer);

}  // namespace route_milter
