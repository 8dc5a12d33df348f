#include "route_milter/core/ip_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

namespace route_milter {
namespace {

IpAddress from_v6_bytes(const unsigned char* b) {
    std::uint64_t high = 0, low = 0;
    for (int i = 0; i < 8; ++i) high = (high << 8) | b[i];
    for (int i = 8; i < 16; ++i) low = (low << 8) | b[i];
    if (high == 0 && (low >> 32) == 0xffff) return IpAddress{IpFamily::v4, 0, low & 0xffffffffULL};
    return IpAddress{IpFamily::v6, high, low};
}

IpAddress from_v4_bytes(const unsigned char* b) {
    const std::uint64_t v = (std::uint64_t{b[0]} << 24) | (std::uint64_t{b[1]} << 16) |
                            (std::uint64_t{b[2]} << 8) | std::uint64_t{b[3]};
    return IpAddress{IpFamily::v4, 0, v};
}

}  // namespace

std::optional<IpAddress> parse_ip_address(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buffer[INET6_ADDRSTRLEN] = {};
    std::memcpy(buffer, text.data(), text.size());
    std::array<unsigned char, 16> bytes{};
    if (text.find(':') == std::string_view::npos) {
        if (inet_pton(AF_INET, buffer, bytes.data()) != 1) return std::nullopt;
        return from_v4_bytes(bytes.data());
    }
    if (inet_pton(AF_INET6, buffer, bytes.data()) != 1) return std::nullopt;
    return from_v6_bytes(bytes.data());
}

std::optional<IpAddress> ip_address_from_sockaddr(const sockaddr* address) {
    if (address == nullptr) return std::nullopt;
    if (address->sa_family == AF_INET) {
        sockaddr_in in{};
        std::memcpy(&in, address, sizeof in);
        return from_v4_bytes(reinterpret_cast<const unsigned char*>(&in.sin_addr));
    }
    if (address->sa_family == AF_INET6) {
        sockaddr_in6 in6{};
        std::memcpy(&in6, address, sizeof in6);
        return from_v6_bytes(in6.sin6_addr.s6_addr);
    }
    return std::nullopt;
}

std::string to_string(const IpAddress& address) {
    char buffer[INET6_ADDRSTRLEN] = {};
    std::array<unsigned char, 16> bytes{};
    if (address.family == IpFamily::v4) {
        for (int i = 0; i < 4; ++i) bytes[i] = static_cast<unsigned char>(address.low >> (24 - 8 * i));
        inet_ntop(AF_INET, bytes.data(), buffer, sizeof buffer);
    } else {
        for (int i = 0; i < 8; ++i) bytes[i] = static_cast<unsigned char>(address.high >> (56 - 8 * i));
        for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<unsigned char>(address.low >> (56 - 8 * i));
        inet_ntop(AF_INET6, bytes.data(), buffer, sizeof buffer);
    }
    return buffer;
}

}  // namespace route_milter
