// printable.hpp - text from input as a log line or an error message may show it: one line.
//
// NAME
//   find_control - where a string holds a character that could end a log line, drive a
//     terminal or disguise what a reader sees.
//   printable - a string (or its start) with each such character, and each byte that is not
//     UTF-8, written as \xNN.
//   without_controls - a string with each such character replaced by a blank.
// SYNOPSIS
//   if (const auto at = find_control(name)) error("a control character at byte " + ...);
//   errors.push_back(... "(\"" + printable(token, 64) + "\")");
// DESCRIPTION
//   The characters are the C0 controls U+0000-U+001F (tab, CR and LF among them), DEL, the C1
//   controls U+0080-U+009F (NEL among them; as UTF-8) and the line and paragraph separators
//   U+2028 and U+2029, which syslog, journald, terminals and log viewers may take as the end of
//   a line or an escape; and the invisible marks that hide or reorder what a reader sees: the
//   byte-order mark U+FEFF and the bidirectional marks U+200E, U+200F, U+202A-U+202E and
//   U+2066-U+2069. Other UTF-8 is kept (a U-label is shown as written).
//   printable(text, max) shows at most `max` bytes of `text`, cut at a character, followed by
//   "..." when there was more. Applied twice it gives what it gave once.
// DIAGNOSTICS
//   find_control returns the byte offset of the first such character, or nullopt.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace route_milter {

std::optional<std::size_t> find_control(std::string_view text);
std::string printable(std::string_view text, std::size_t max = std::string_view::npos);
std::string without_controls(std::string_view text);

}  // namespace route_milter
