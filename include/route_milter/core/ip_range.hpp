// ip_range.hpp - an inclusive interval of IP addresses of one family.
//
// Written in the config either as lower/upper bounds (hMailServer's form) or as a CIDR block.
#pragma once

#include "route_milter/core/ip_address.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace route_milter {

struct IpInterval {
    IpAddress lower;
    IpAddress upper;

    bool contains(const IpAddress& a) const { return a.family == lower.family && lower <= a && a <= upper; }
    bool overlaps(const IpInterval& o) const {
        return lower.family == o.lower.family && lower <= o.upper && o.lower <= upper;
    }
    friend bool operator==(const IpInterval&, const IpInterval&) = default;
};

// A parse failure says what is wrong, e.g. "host bits set; did you mean 10.0.0.0/8". The prefix
// length is required: "192.0.2.7" is an error that suggests "192.0.2.7/32" (or the network's length).
using IntervalResult = std::variant<IpInterval, std::string>;

IntervalResult parse_cidr(std::string_view text);
IntervalResult make_interval(std::string_view lower, std::string_view upper);

std::string to_string(const IpInterval& interval);

// "10.0.0.0/8" when the interval is exactly one CIDR block, nullopt otherwise.
std::optional<std::string> to_cidr(const IpInterval& interval);

}  // namespace route_milter
