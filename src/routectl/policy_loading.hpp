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

// The config with every check done, including those of the policy compiler (duplicate
// addresses, ...), for the commands that render files from it; errors are printed.
inline std::optional<Config> load_checked_config(const std::string& path) {
    ConfigDraft loaded = read_config_file(path);
    Diagnostics errors = std::move(loaded.errors);
    if (loaded.parsed) {  // the compiler's problems in the same report as the loader's
        PolicyResult compiled = compile_policy(loaded.config);
        errors.insert(errors.end(), compiled.errors.begin(), compiled.errors.end());
        sort_diagnostics(errors);
    }
    if (!errors.empty()) {
        report_errors(path, errors);
        return std::nullopt;
    }
    return std::move(loaded.config);
}

inline std::shared_ptr<const Policy> load_or_report(const std::string& path) {
    PolicyResult loaded = load_policy_file(path);
    if (!loaded.policy) report_errors(path, loaded.errors);
    return std::move(loaded.policy);
}

}  // namespace route_milter
