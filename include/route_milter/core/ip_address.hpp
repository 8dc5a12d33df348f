// ip_address.hpp - an IPv4 or IPv6 address as a 128-bit value that orders numerically.
//
// IPv4 addresses, and IPv4-mapped IPv6 addresses (::ffff:192.0.2.1, as a dual-stack socket
// reports IPv4 clients), are both family v4, so one range covers a client however it arrived.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sockaddr;

namespace route_milter {

enum class IpFamily : std::uint8_t { v4, v6 };

struct IpAddress {
    IpFamily family = IpFamily::v4;
    std::uint64_t high = 0;  // v6: first 64 bits; v4: 0
    std::uint64_t low = 0;   // v6: last 64 bits; v4: the address in the low 32 bits

    friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

// "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1"; nullopt when not an address.
std::optional<IpAddress> parse_ip_address(std::string_view text);

// From what the MTA passed to xxfi_connect; nullopt for non-IP families or a null pointer.
std::optional<IpAddress> ip_address_from_sockaddr(const sockaddr* address);

std::string to_string(const IpAddress& address);

// Number of bits of the family: 32 or 128.
inline int bit_width(IpFamily family) { return family == IpFamily::v4 ? 32 : 128; }

}  // namespace route_milter
