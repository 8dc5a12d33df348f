// policy_loading.hpp - load the config for a routectl command, printing every error.
#pragma once

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

// The config compiled (every check the image gets, `routectl compile`'s own), for the commands
// that read or render it; errors are printed.
inline std::optional<Config> load_config_or_report(const std::string& path,
                                                   UserCheck user_check = UserCheck::config_user) {
    CompiledConfig loaded = compile_config_file(path, user_check);
    if (!loaded.config) report_errors(path, loaded.errors);
    return std::move(loaded.config);
}

// The config compiled and opened as the image the daemon would map (routectl query).
inline std::shared_ptr<const Policy> load_or_report(const std::string& path) {
    PolicyResult loaded = load_policy_file(path);
    if (!loaded.policy) report_errors(path, loaded.errors);
    return std::move(loaded.policy);
}

}  // namespace route_milter
