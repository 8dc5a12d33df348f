#include "route_milter/config/load_policy.hpp"

#include "route_milter/config/config_loader.hpp"

#include <pwd.h>

#include <cerrno>
#include <iterator>
#include <vector>

namespace route_milter {

namespace {

bool user_exists(const std::string& name) {
    passwd entry{};
    passwd* found = nullptr;
    std::vector<char> buffer(16384);
    // getpwnam_r: a reload runs in libmilter's signal thread.
    while (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) == ERANGE && buffer.size() < (1u << 20))
        buffer.resize(buffer.size() * 2);
    return found != nullptr;
}

// The compiler's checks run on what the loader read even when the loader found errors, so one
// run reports both (a duplicate listed address and a bad port elsewhere); the config moves
// into the compiler, never copied. Any error at all and there is no policy.
PolicyResult compile_loaded(ConfigDraft loaded, UserCheck user_check = UserCheck::skip,
                            ListedAddressUse lists = ListedAddressUse::into_index) {
    if (!loaded.parsed) return PolicyResult{nullptr, std::move(loaded.errors)};
    const MilterSettings& milter = loaded.config.milter;
    if (user_check == UserCheck::config_user && !milter.user.empty() && !user_exists(milter.user)) {
        loaded.errors.push_back({std::string(loaded.config.files.at(milter.user_file)), milter.user_line,
                                 "milter.user: no such user (\"" + milter.user + "\")"});
        sort_diagnostics(loaded.errors);
    }
    PolicyResult compiled = compile_policy(std::move(loaded.config), lists);
    if (loaded.errors.empty()) return compiled;
    loaded.errors.insert(loaded.errors.end(), std::make_move_iterator(compiled.errors.begin()),
                         std::make_move_iterator(compiled.errors.end()));
    sort_diagnostics(loaded.errors);
    return PolicyResult{nullptr, std::move(loaded.errors)};
}
}  // namespace

PolicyResult load_policy_file(const std::string& path, UserCheck user_check, ListedAddressUse lists) {
    return compile_loaded(read_config_file(path), user_check, lists);
}

PolicyResult load_policy_text(std::string_view text, const std::string& name) {
    return compile_loaded(read_config_text(text, name));
}

}  // namespace route_milter
