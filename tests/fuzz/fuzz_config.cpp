// libFuzzer target: the whole config loader and policy compiler on arbitrary text.
#include "route_milter/core/policy.hpp"
#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/printable.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace route_milter;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const PolicyResult r = load_policy_text(text, "fuzz.conf");
    // Exactly one of: a policy, or at least one error.
    if ((r.policy == nullptr) == r.errors.empty()) std::abort();
    // Every error is one line, whatever the text holds (log lines are made of them).
    for (const Diagnostic& d : r.errors)
        if (d.message.empty() || find_control(format_diagnostic(d))) std::abort();
    return 0;
}
