// load_policy.hpp - the config file (or text) read, validated and compiled: one call, one round.
//
// What the daemon (start, -t, reload) and routectl use, so `route-milter -t` and `routectl check`
// agree on every file. The loader's errors and the compiler's (addresses listed twice, shadowed
// listed addresses) come back together, each as file:line.
#pragma once

#include "route_milter/core/policy.hpp"

#include <string>
#include <string_view>

namespace route_milter {

// What the file cannot say by itself is asked of the running system: milter.user must name a
// user that exists (an error at the line of `user`). The daemon skips that check when -u
// names the user instead; load_policy_text never makes it (tests, fuzzing).
enum class UserCheck { config_user, skip };

PolicyResult load_policy_file(const std::string& path, UserCheck user_check = UserCheck::config_user,
                              ListedAddressUse lists = ListedAddressUse::into_index);
PolicyResult load_policy_text(std::string_view text, const std::string& name);

}  // namespace route_milter
