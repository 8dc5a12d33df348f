// map_table.hpp - what the Postfix and Sendmail renderers share: a keyed map table and the rules
// both MTAs' files follow. No I/O.
//
// NAME
//   MapTable - a map file's keys, each with one value and the route that set it.
// SYNOPSIS
//   MapTable t;
//   std::string conflict = set_map_entry(t, "example.com", "smtp:[mx]:25", route, "transport");
//   std::string text = render_map_table(header, std::move(t));   // "KEY\tVALUE\n", key order
//   local_part_is_dot_string("john.doe@example.com");           // true: no quoting needed
//   queue_lifetime_minutes(longest_route_schedule_minutes(config.routes));
// DIAGNOSTICS
//   set_map_entry returns "" when the key is new or already has this value, else the message
//   "WHAT for KEY differs from the route at line N (PATTERN) (NEW vs OLD)" (no values when secret);
//   the caller prefixes its route. The first value stays.
#pragma once

#include "route_milter/core/config.hpp"

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace route_milter {

struct MapEntry {
    std::string value;
    unsigned line = 0;  // the route that set it, for conflict messages (0: no route)
    std::string route;  // ... and its domain pattern
};

using MapTable = std::map<std::string, MapEntry>;  // sorted: the same config gives the same bytes

std::string set_map_entry(MapTable& table, const std::string& key, const std::string& value, const RouteConfig& route,
                          std::string_view what, bool secret = false);

// `header`, then a line "KEY\tVALUE\n" per entry; each entry is freed once written, so a big
// table and its text are not held twice.
std::string render_map_table(std::string header, MapTable&& table);

// The entries as (key, value) pairs in key order, each node freed as it moves out.
std::vector<std::pair<std::string, std::string>> map_table_lines(MapTable&& table);

// The local part of `address` (before its last '@') is an RFC 5322 dot-string: an MTA sees it
// the same however a client quotes it, and it is its own external (quoted) form. 8-bit bytes
// are atoms' text (SMTPUTF8).
bool local_part_is_dot_string(std::string_view address);

// The longest retry schedule of the routes: retries x retry_minutes.
long longest_route_schedule_minutes(const std::vector<RouteConfig>& routes);

// The MTA's own queue lifetime for these routes: a day beyond the longest schedule, so that the
// route's retries decide (routectl retry returns mail earlier where a route says so), and never
// below the MTAs' default of 5 days.
long queue_lifetime_minutes(long longest_schedule_minutes);

}  // namespace route_milter
