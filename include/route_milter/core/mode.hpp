// mode.hpp - whether the policy's refusals are given or only logged.
//
// enforce: a rejecting rule refuses the recipient. warn: it is logged as "would reject" and the
// milter answers as if it had no objection (a roll-out mode, like Postfix's warn_if_reject).
// Set at the top level and per route. A route's mode governs its own rule, its address list;
// the IP ranges' rules (not-allowed, auth-required, tls-required) are softened only where the
// top-level mode is warn and the route does not enforce (range_rules_mode, config.hpp). Only
// the policy rules are softened (see is_policy_rule, decision.hpp): an address the milter
// cannot read is refused in either mode.
#pragma once

#include "route_milter/core/name_code.hpp"

#include <cstdint>
#include <string_view>

namespace route_milter {

enum class Mode : std::uint8_t { enforce, warn };

inline constexpr NameCodeTable<Mode, 2> mode_names{{{{"enforce", Mode::enforce}, {"warn", Mode::warn}}}};
static_assert(mode_names.in_order());

constexpr std::string_view name_of(Mode m) { return mode_names.name(m); }

}  // namespace route_milter
