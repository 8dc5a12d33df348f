// reload.hpp - SIGHUP: the current policy image, compiled again if its sources changed, swapped whole.
#pragma once

#include "decision_counters.hpp"
#include "policy_source.hpp"
#include "route_milter/core/live_policy.hpp"

namespace route_milter {

// Takes the current image of source.config (load_current_policy); on success publishes it, on
// failure logs why and leaves the running policy alone. Returns whether the new policy is in
// force. `counters` (nullptr: metrics off) gets the slots of the new routes before the policy
// is published.
bool reload_policy(Live<Serving>& live, DecisionCounters* counters, const PolicySource& source);

}  // namespace route_milter
