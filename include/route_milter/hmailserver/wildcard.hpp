// wildcard.hpp - hMailServer's route-name wildcards, as its own matcher reads them.
//
// NAME
//   wildcard_match, wildcard_covers - StringParser::WildcardMatchNoCase, and whether one route
//   name takes every domain another takes.
// DESCRIPTION
//   hMailServer turns `*` into `.*` and `?` into `.`, escapes the rest and needs a full match,
//   case-insensitively (ASCII here: IDN names are compared as written). wildcard_covers(a, b)
//   is true when `a` matches the text of `b` with each `*` of `b` standing for itself, which only
//   a `*` of `a` can take: then every domain `b` matches, `a` matches too (sound, not complete:
//   a `false` may still overlap).
#pragma once

#include <string>
#include <string_view>

namespace route_milter::hmailserver {

bool wildcard_match(std::string_view pattern, std::string_view text);
bool wildcard_covers(std::string_view a, std::string_view b);
std::string ascii_lower(std::string_view text);

}  // namespace route_milter::hmailserver
