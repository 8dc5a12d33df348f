// policy_compiler.hpp - the checks that need the whole route table, before a policy is written.
#pragma once

#include "route_milter/core/config.hpp"
#include "route_milter/core/diagnostic.hpp"

namespace route_milter {

// Indexes the listed addresses of a Config the loader accepted (Config::listed) and reports, at
// the file:line of each: an address listed twice (by one route or two), and an address listed
// under a wildcard or "*" route while a more specific route, or local_domains, takes its domain.
// A listed address then belongs to the one route that owns its domain.
Diagnostics compile_checks(Config& config);

}  // namespace route_milter
