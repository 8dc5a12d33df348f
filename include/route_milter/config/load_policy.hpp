// load_policy.hpp - the config file (or text) read, validated and checked whole: one call, one round.
//
// What `routectl compile` writes as the policy image, what `routectl check` reports and what the
// renderers read, so every command agrees on every file. The loader's errors and the
// compiler's (compile_checks: addresses listed twice, shadowed listed addresses) come back
// together, each as file:line.
#pragma once

#include "route_milter/core/config.hpp"
#include "route_milter/core/diagnostic.hpp"
#include "route_milter/core/policy.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace route_milter {

// What the file cannot say by itself is asked of the running system: milter.user must name a
// user that exists (an error at the line of `user`). Skipped when the daemon's -u names the
// user instead; never made for text (tests, fuzzing).
enum class UserCheck { config_user, skip };

struct CompiledConfig {
    std::optional<Config> config;  // set only when errors is empty; its listed addresses indexed
    Diagnostics errors;
};

CompiledConfig compile_config_file(const std::string& path, UserCheck user_check = UserCheck::config_user);
CompiledConfig compile_config_text(std::string_view text, const std::string& name);

// The same, opened as the policy image it compiles to (policy_in_memory): what the daemon
// would decide with it (routectl query, tests).
struct PolicyResult {
    std::shared_ptr<const Policy> policy;  // set only when errors is empty
    Diagnostics errors;
};
PolicyResult load_policy_file(const std::string& path, UserCheck user_check = UserCheck::config_user);
PolicyResult load_policy_text(std::string_view text, const std::string& name);

}  // namespace route_milter
