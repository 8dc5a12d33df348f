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
//   CoveringNames holds the route names seen so far, in hMailServer's order, and answers which
//   of them first covers a new name: exact names and "*", "*.suffix" (nearly all of them) by a
//   lookup per label, only other patterns ("mail?.example", "*x*") by wildcard_covers one by
//   one, so that 20,000 routes take 20,000 lookups, not 200 million comparisons.
#pragma once

#include "route_milter/core/string_index.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace route_milter::hmailserver {

bool wildcard_match(std::string_view pattern, std::string_view text);
bool wildcard_covers(std::string_view a, std::string_view b);
std::string ascii_lower(std::string_view text);

class CoveringNames {
public:
    // The position (as given to add) of the first name added that covers `name`
    // (wildcard_covers: every domain `name` matches, it matches too), if any.
    std::optional<std::uint32_t> first_covering(std::string_view name);
    void add(std::string_view name, std::uint32_t position);
    // How many times a name was compared with a pattern one by one (wildcard_covers) so far.
    std::size_t comparisons() const { return comparisons_; }

private:
    StringIndex exact_;     // names without '*' or '?' -> position
    StringIndex suffixes_;  // ".example.com" of "*.example.com" -> position
    std::optional<std::uint32_t> catch_all_;                       // "*"
    std::vector<std::pair<std::string, std::uint32_t>> patterns_;  // every other name with '*' or '?'
    std::size_t comparisons_ = 0;
};

}  // namespace route_milter::hmailserver
