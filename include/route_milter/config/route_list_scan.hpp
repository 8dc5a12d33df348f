// route_list_scan.hpp - where the groups of the root's `routes = ( ... )` list are in a config text.
//
// NAME
//   scan_route_list - the layout of the route list, so that libconfig can read it in slices.
// SYNOPSIS
//   if (auto list = scan_route_list(text)) for (const RouteListElement& e : list->elements) ...
// DESCRIPTION
//   libconfig builds its whole tree before a setting can be read: for 100,000 routes that is
//   about 130 MB of small blocks, and its list of them grows 16 elements at a time by
//   realloc(). The loader instead gives libconfig the config without the route groups, then
//   the groups a slice at a time (read_config's draft_from), freeing each tree before the next.
//   This scan finds them: the text of the root setting `routes` (name, '=' or ':', '(') up to
//   its ')', each element a `{ ... }` group separated by ',' only, with libconfig's lexical
//   rules for strings ("...", backslash escapes) and comments (#, //, /* */).
//   Anything it does not understand (no such setting, an element that is not a group,
//   unbalanced brackets, a string or comment left open) gives nullopt: the loader then reads
//   the text whole, as libconfig would, and reports what libconfig reports.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

namespace route_milter {

struct RouteListElement {
    std::size_t begin = 0;  // offset of its '{'
    std::size_t end = 0;    // one past its '}'
    unsigned line = 1;      // the text line its '{' is on (the first line is 1)
};

struct RouteListLayout {
    std::vector<RouteListElement> elements;  // in order; at least one
};

std::optional<RouteListLayout> scan_route_list(std::string_view text);

}  // namespace route_milter
