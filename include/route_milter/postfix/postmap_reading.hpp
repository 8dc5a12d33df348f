// postmap_reading.hpp - a Postfix table's text as postmap(1) reads it, with each key as Postfix
// looks it up in an indexed table. No I/O.
//
// NAME
//   PostmapReader - the entries postmap would store from a table's text, fed in chunks.
//   fold_postfix_key - a key as Postfix folds it before it stores or looks it up.
// SYNOPSIS
//   PostmapReader reader(utf8);        // utf8: smtputf8_enable of the Postfix that reads the table
//   reader.feed(chunk, on_entry);      // any chunking; on_entry(entry) in text order
//   reader.finish(on_entry);           // the last line
//   for (const std::string& w : reader.warnings()) ...
// DESCRIPTION
//   Logical lines as postmap's readllines() finds them: blank lines and lines whose first
//   non-blank is '#' are skipped, a line beginning with white space continues the line before
//   (one with nothing before it is dropped), text after a NUL byte is ignored. The key ends at
//   the first white space outside double quotes (a backslash escapes the next byte; quotes and
//   backslashes stay in the key), the value is the rest without white space at either end.
//   With utf8 (postmap's UTF-8 mode), a line that is not UTF-8 is skipped.
//   The key is folded: with utf8 a key with 8-bit bytes is case-folded as Postfix's casefold()
//   does (ICU's full case folding, en_US: "Straße" -> "strasse"), otherwise ASCII letters are
//   lower-cased; the value stays as written.
// DIAGNOSTICS
//   warnings(): "line N: WHY -- ignoring this line" for each line postmap would skip (not UTF-8,
//   an unbalanced '"', no key or no value, a continuation of nothing), in text order.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace route_milter {

struct PostmapEntry {
    std::string_view key;  // folded; valid during the call only
    std::string_view value;
    unsigned line = 0;  // the first line of the logical line
};

// Takes the next entry; false stops the reader (feed and finish then return false).
using PostmapEntrySink = std::function<bool(const PostmapEntry& entry)>;

class PostmapReader {
public:
    explicit PostmapReader(bool utf8) : utf8_(utf8) {}

    bool feed(std::string_view chunk, const PostmapEntrySink& sink);
    bool finish(const PostmapEntrySink& sink);
    const std::vector<std::string>& warnings() const { return warnings_; }

private:
    bool physical_line(std::string_view line, const PostmapEntrySink& sink);
    bool flush(const PostmapEntrySink& sink);
    void warn(unsigned line, std::string_view why);

    bool utf8_;
    std::string partial_;      // a physical line cut by the end of a chunk
    std::string logical_;      // the pending logical line (more may continue it)
    bool have_logical_ = false;
    bool dropping_ = false;    // continuations of nothing are being dropped
    unsigned lines_ = 0;       // physical lines seen
    unsigned logical_line_ = 0;
    std::string folded_;
    std::vector<std::string> warnings_;
};

// The key as Postfix stores and looks it up: see the DESCRIPTION above. `out` is reused.
void fold_postfix_key(std::string_view key, bool utf8, std::string& out);

// Postfix's test of UTF-8 (valid_utf8_string): no overlong form, no surrogate, nothing past U+10FFFF.
bool postfix_valid_utf8(std::string_view text);

}  // namespace route_milter
