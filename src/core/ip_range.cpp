#include "route_milter/core/ip_range.hpp"

#include <charconv>

namespace route_milter {
namespace {

// Mask with the low `host_bits` bits of a 128-bit value set, as (high, low).
void host_mask(int host_bits, std::uint64_t& high, std::uint64_t& low) {
    if (host_bits >= 128) { high = low = ~0ULL; return; }
    if (host_bits >= 64) {
        low = ~0ULL;
        high = host_bits == 64 ? 0 : (~0ULL >> (128 - host_bits));
        return;
    }
    high = 0;
    low = host_bits == 0 ? 0 : (~0ULL >> (64 - host_bits));
}

// A bare address is refused: "192.0.2.0" is more often a network whose length was forgotten
// than one host, and taking it as /32 would leave the rest of the network out silently.
std::string missing_prefix(const IpAddress& address, std::string_view text) {
    const int width = bit_width(address.family);
    const std::string host = to_string(address) + "/" + std::to_string(width);
    // Whole trailing zero groups (octets, or IPv6's 16-bit groups) suggest the network meant.
    const int group = address.family == IpFamily::v4 ? 8 : 16;
    int zero_bits = 0;
    while (zero_bits < width) {
        const int bit = zero_bits + group - 1;  // the group's highest bit, counted from the right
        std::uint64_t high = 0, low = 0;
        host_mask(bit + 1, high, low);
        if ((address.high & high) != 0 || (address.low & low) != 0) break;
        zero_bits += group;
    }
    std::string why = "no prefix length (" + std::string(text) + "): ";
    if (zero_bits == 0) return why + "write " + host + " for this one host";
    return why + "a network needs its length, e.g. " + to_string(address) + "/" + std::to_string(width - zero_bits) +
           "; write " + host + " for this one host";
}

}  // namespace

IntervalResult parse_cidr(std::string_view text) {
    const std::size_t slash = text.find('/');
    const std::string_view address_text = text.substr(0, slash);
    const auto address = parse_ip_address(address_text);
    if (!address) return std::string("not an IP address (") + std::string(address_text) + ")";
    if (address->family == IpFamily::v4 && address_text.find(':') != std::string_view::npos)
        return "write IPv4 blocks in dotted form, not IPv4-mapped (" + std::string(text) + ")";
    const int width = bit_width(address->family);
    if (slash == std::string_view::npos) return missing_prefix(*address, text);
    int prefix = width;
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || prefix < 0 || prefix > width)
        return "prefix length must be 0.." + std::to_string(width) + " (" + std::string(text) + ")";
    std::uint64_t mask_high = 0, mask_low = 0;
    host_mask(width - prefix, mask_high, mask_low);
    if (address->family == IpFamily::v4) mask_low &= 0xffffffffULL;
    if ((address->high & mask_high) != 0 || (address->low & mask_low) != 0) {
        IpAddress network = *address;
        network.high &= ~mask_high;
        network.low &= ~mask_low;
        return "host bits set; did you mean " + to_string(network) + "/" + std::to_string(prefix) + " (" +
               std::string(text) + ")";
    }
    IpInterval interval{*address, *address};
    interval.upper.high |= mask_high;
    interval.upper.low |= mask_low;
    return interval;
}

IntervalResult make_interval(std::string_view lower, std::string_view upper) {
    const auto lo = parse_ip_address(lower);
    if (!lo) return "not an IP address (" + std::string(lower) + ")";
    const auto hi = parse_ip_address(upper);
    if (!hi) return "not an IP address (" + std::string(upper) + ")";
    if (lo->family != hi->family)
        return "lower and upper are of different IP families (" + std::string(lower) + " - " +
               std::string(upper) + ")";
    if (*hi < *lo) return "lower is above upper (" + std::string(lower) + " - " + std::string(upper) + ")";
    return IpInterval{*lo, *hi};
}

std::string to_string(const IpInterval& interval) {
    if (interval.lower == interval.upper) return to_string(interval.lower);
    return to_string(interval.lower) + "-" + to_string(interval.upper);
}

std::optional<std::string> to_cidr(const IpInterval& interval) {
    const IpAddress& lo = interval.lower;
    const IpAddress& hi = interval.upper;
    if (lo.family != hi.family) return std::nullopt;
    const int width = bit_width(lo.family);
    for (int prefix = 0; prefix <= width; ++prefix) {
        // The host part: the low (width - prefix) bits, as a (high, low) pair of masks.
        const int host_bits = width - prefix;
        const std::uint64_t low_mask = host_bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << host_bits) - 1;
        const std::uint64_t high_mask =
            host_bits <= 64 ? 0 : host_bits >= 128 ? ~std::uint64_t{0} : (std::uint64_t{1} << (host_bits - 64)) - 1;
        if ((lo.low & low_mask) != 0 || (lo.high & high_mask) != 0) continue;
        if (hi.low == (lo.low | low_mask) && hi.high == (lo.high | high_mask))
            return to_string(lo) + "/" + std::to_string(prefix);
    }
    return std::nullopt;
}

}  // namespace route_milter
