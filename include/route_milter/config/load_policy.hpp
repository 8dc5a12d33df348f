// load_policy.hpp - the config file (or text) read, validated and compiled: one call, one round.
//
// What the daemon (start, -t, reload) and routectl use. The loader's errors and the compiler's
// (addresses listed twice, shadowed listed addresses) come back together, each as file:line.
#pragma once

#include "route_milter/core/policy.hpp"

#include <string>
#include <string_view>

namespace route_milter {

PolicyResult load_policy_file(const std::string& path);
PolicyResult load_policy_text(std::string_view text, const std::string& name);

}  // namespace route_milter
