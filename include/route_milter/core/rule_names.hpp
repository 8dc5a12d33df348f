// rule_names.hpp - the names of the RCPT TO rules (decision.hpp), as logs and `routectl query`
// print them: "not-listed". name_of(Rule) (decision.hpp) reads this table.
#pragma once

#include "route_milter/core/decision.hpp"
#include "route_milter/core/name_code.hpp"

namespace route_milter {

inline constexpr NameCodeTable<Rule, 11> rule_names{{{{"out-of-scope", Rule::out_of_scope},
                                                     {"no-objection", Rule::no_objection},
                                                     {"bad-address", Rule::bad_address},
                                                     {"not-listed", Rule::not_listed},
                                                     {"not-allowed", Rule::not_allowed},
                                                     {"auth-required", Rule::auth_required},
                                                     {"bad-sender", Rule::bad_sender},
                                                     {"postmaster", Rule::postmaster},
                                                     {"routed-address", Rule::routed_address},
                                                     {"tls-required", Rule::tls_required},
                                                     {"policy-unreadable", Rule::policy_unreadable}}}};
static_assert(rule_names.in_order());

}  // namespace route_milter
