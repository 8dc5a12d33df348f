// libFuzzer target: IP addresses, CIDR blocks and lower-upper intervals (ip_range.hpp).
#include "route_milter/core/ip_range.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace route_milter;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (const auto a = parse_ip_address(text)) {
        // Printing and parsing again gives the same address.
        const auto again = parse_ip_address(to_string(*a));
        if (!again || !(*again == *a)) std::abort();
    }
    const IntervalResult cidr = parse_cidr(text);
    if (const auto* i = std::get_if<IpInterval>(&cidr)) {
        if (i->upper < i->lower || !i->contains(i->lower) || !i->contains(i->upper)) std::abort();
    }
    const std::size_t dash = text.find('-');
    if (dash != std::string_view::npos) {
        const IntervalResult range = make_interval(text.substr(0, dash), text.substr(dash + 1));
        if (const auto* i = std::get_if<IpInterval>(&range))
            if (i->upper < i->lower) std::abort();
    }
    return 0;
}
