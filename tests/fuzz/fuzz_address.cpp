// libFuzzer target: SMTP envelope address parsing (address.hpp, domain.hpp).
#include "route_milter/core/address.hpp"
#include "route_milter/core/domain.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace route_milter;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static NormalizedAddress address;  // reused, as the milter reuses its buffer
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    // The input as a domain: what canonical_domain takes needs no other spelling and comes out
    // ASCII (a host name comes out as itself again); what it refuses for its spelling alone is
    // taken in the spelling canonical_spelling names.
    static std::string canonical, again;
    if (canonical_domain(raw, canonical) == DomainStatus::ok) {
        if (!canonical_spelling(raw).empty()) std::abort();
        for (const char c : canonical)
            if (static_cast<unsigned char>(c) >= 0x80) std::abort();
        if (is_host_name(canonical) && (canonical_domain(canonical, again) != DomainStatus::ok || again != canonical))
            std::abort();
    } else if (const std::string spelled = canonical_spelling(raw); !spelled.empty()) {
        if (canonical_domain(spelled, again) != DomainStatus::ok) std::abort();
    }
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
