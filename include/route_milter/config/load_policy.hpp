// load_policy.hpp - the config file (or text) read, validated and compiled: one call, one round.
//
// What the daemon (start, -t, reload) and routectl use, so `route-milter -t` and `routectl check`
// agree on every file. The loader's errors and the compiler's (addresses listed twice, shadowed
// listed addresses) come back together, each as file:line.
#pragma once

#include "route_milter/config/address_file.hpp"
#include "route_milter/core/policy.hpp"

#include <cstdint>

#include <string>
#include <string_view>

namespace route_milter {

// What the file cannot say by itself is asked of the running system: milter.user must name a
// user that exists (an error at the line of `user`). The daemon skips that check when -u
// names the user instead; load_policy_text never makes it (tests, fuzzing).
enum class UserCheck { config_user, skip };

// running: the policy in force, on a reload. The shards of its listed-address index whose files
// and routes are unchanged are kept (config_loader.hpp, read_config_file), and an address file
// whose status is the one it was read under is not read again (address_file.hpp; settle_ns is
// for tests); when an error lies in a kept shard (no file:line left there), the file is loaded
// again building every shard. When the config files are unchanged the reload does not parse
// them (config_loader.hpp, ParseReuse); a refusal is then made again from a parse, for its report.
PolicyResult load_policy_file(const std::string& path, UserCheck user_check = UserCheck::config_user,
                              ListedAddressUse lists = ListedAddressUse::into_index, const Policy* running = nullptr,
                              std::int64_t settle_ns = address_file_settle_ns);
PolicyResult load_policy_text(std::string_view text, const std::string& name);

}  // namespace route_milter
