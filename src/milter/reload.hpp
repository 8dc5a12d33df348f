// reload.hpp - SIGHUP: load the config file again and swap the whole policy.
#pragma once

#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/live_policy.hpp"

#include <string>

namespace route_milter {

// Loads and compiles `path` completely; on success publishes it, on failure logs every error
// and leaves the running policy alone. Returns whether the new policy is in force.
// `user_check` as at start-up: skip when -u names the user.
bool reload_policy(LivePolicy& live, const std::string& path, UserCheck user_check);

}  // namespace route_milter
