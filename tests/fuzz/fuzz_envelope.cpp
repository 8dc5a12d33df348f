// libFuzzer target: the envelope address the milter judges from the MTA's reading and the SMTP
// argument (read_envelope_address). Input: a flag byte (bit 0: the MTA sent a reading), then the
// reading and the argument separated by the first NUL.
#include "route_milter/core/address.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace route_milter;

namespace {

void check_canonical(const NormalizedAddress& a) {
    if (a.has_domain() && (a.domain().empty() || a.text().size() != a.local().size() + 1 + a.domain().size()))
        std::abort();
    for (const char c : a.text())
        if (c >= 'A' && c <= 'Z') std::abort();  // canonical form is lower case
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static NormalizedAddress judged, again, plain;  // reused, as the milter reuses its buffers
    const bool has_reading = (data[0] & 1) != 0;
    const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::size_t nul = rest.find('\0');
    const std::string reading(rest.substr(0, nul == std::string_view::npos ? rest.size() : nul));
    const std::string_view argument = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
    const char* mta = has_reading ? reading.c_str() : nullptr;

    const EnvelopeReading r = read_envelope_address(mta, argument, judged);
    if (r.status != AddressStatus::ok) {
        if (!judged.text().empty()) std::abort();  // nothing half-read is left behind
        return 0;
    }
    check_canonical(judged);
    // The same input reads the same way again.
    const EnvelopeReading r2 = read_envelope_address(mta, argument, again);
    if (r2.status != r.status || r2.from_mta != r.from_mta || again.text() != judged.text()) std::abort();
    if (r.from_mta) {
        // The MTA's reading decides, whatever the argument: it parses alone to the same address.
        if (parse_address(reading.empty() ? std::string_view("<>") : std::string_view(reading), plain) !=
                AddressStatus::ok ||
            plain.text() != judged.text())
            std::abort();
    } else {
        // Otherwise the argument alone, read strictly, gives it.
        if (parse_address(argument, plain) != AddressStatus::ok || plain.text() != judged.text()) std::abort();
    }
    return 0;
}
