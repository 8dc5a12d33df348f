// closest_name.hpp - the known name a misspelled one most likely meant ("did you mean").
//
// NAME
//   closest_name - the name of `known` nearest to `written`, when it is near enough to be the
//     one meant.
// SYNOPSIS
//   if (const auto meant = closest_name("hots", {"domain", "host", "port"})) ... // "host"
// DESCRIPTION
//   Nearness is the edit distance (insert, delete, replace a character, or swap two adjacent
//   ones), ignoring ASCII case. Near enough: at most 1 for a name of 4 characters or fewer, at
//   most 2 otherwise, so a short unrelated word gets no suggestion. Of equally near names, the
//   first in `known`. A name equal to `written` is not a suggestion.
// DIAGNOSTICS
//   nullopt when no known name is near enough.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace route_milter {

std::optional<std::string_view> closest_name(std::string_view written, std::span<const std::string_view> known);

}  // namespace route_milter
