// reload.hpp - SIGHUP: load the config file again and swap the whole policy.
#pragma once

#include "decision_counters.hpp"
#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/live_policy.hpp"

#include <string>

namespace route_milter {

// Loads and compiles `path` completely; on success publishes it, on failure logs every error
// and leaves the running policy alone. Returns whether the new policy is in force.
// `user_check` as at start-up: skip when -u names the user. `counters` (nullptr: metrics off)
// gets the slots of the new routes before the policy is published.
bool reload_policy(Live<Serving>& live, DecisionCounters* counters, const std::string& path, UserCheck user_check);

}  // namespace route_milter
