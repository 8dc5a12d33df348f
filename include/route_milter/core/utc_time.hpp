// utc_time.hpp - "2027-03-01T00:00:00Z" <-> seconds since the epoch. No clock, no time zone.
//
// DIAGNOSTICS: parse_utc_timestamp returns nullopt for anything but exactly
// YYYY-MM-DDTHH:MM:SSZ with a real calendar date (leap years included), years 1970..9999.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace route_milter {

std::optional<std::int64_t> parse_utc_timestamp(std::string_view text);
std::string format_utc_timestamp(std::int64_t seconds);

}  // namespace route_milter
