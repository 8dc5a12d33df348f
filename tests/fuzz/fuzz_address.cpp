// libFuzzer target: SMTP envelope address parsing (address.hpp, domain.hpp).
#include "route_milter/core/address.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace route_milter;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static NormalizedAddress address;  // reused, as the milter reuses its buffer
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    if (parse_address(raw, address) != AddressStatus::ok) return 0;
    // Invariants of a parsed address.
    if (address.has_domain()) {
        if (address.domain().empty()) std::abort();
        if (address.text().size() != address.local().size() + 1 + address.domain().size()) std::abort();
    } else if (!address.domain().empty()) {
        std::abort();
    }
    for (const char c : address.text())
        if (c >= 'A' && c <= 'Z') std::abort();  // canonical form is lower case
    return 0;
}
