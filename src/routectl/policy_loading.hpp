// policy_loading.hpp - load the config for a routectl command, printing every error.
#pragma once

#include "route_milter/config/config_loader.hpp"
#include "route_milter/core/policy.hpp"
#include "route_milter/config/load_policy.hpp"

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

namespace route_milter {

inline void report_errors(const std::string& path, const Diagnostics& errors) {
    for (const Diagnostic& d : errors) std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
    std::fprintf(stderr, "%s: %zu error(s)\n", path.c_str(), errors.size());
}

// For the commands that render files from the config: every check of `check` (the daemon's
// own), and the listed addresses kept in config() for the renderers. One copy of the config,
// inside the policy; errors are printed.
inline std::shared_ptr<const Policy> load_for_rendering(const std::string& path) {
    PolicyResult loaded = load_policy_file(path, UserCheck::config_user, ListedAddressUse::also_in_config);
    if (!loaded.policy) report_errors(path, loaded.errors);
    return std::move(loaded.policy);
}

inline std::shared_ptr<const Policy> load_or_report(const std::string& path) {
    PolicyResult loaded = load_policy_file(path);
    if (!loaded.policy) report_errors(path, loaded.errors);
    return std::move(loaded.policy);
}

}  // namespace route_milter
