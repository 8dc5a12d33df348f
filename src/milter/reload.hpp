// reload.hpp - SIGHUP: load the config file again and swap the whole policy.
#pragma once

#include "route_milter/core/live_policy.hpp"

#include <string>

namespace route_milter {

// Loads and compiles `path` completely; on success publishes it, on failure logs every error
// and leaves the running policy alone. Returns whether the new policy is in force.
bool reload_policy(LivePolicy& live, const std::string& path);

}  // namespace route_milter
