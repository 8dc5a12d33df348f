#include "route_milter/config/load_policy.hpp"

#include "route_milter/config/config_loader.hpp"
#include "route_milter/core/policy_compiler.hpp"
#include "route_milter/image/policy_image_file.hpp"

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
    while (::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found) == ERANGE && buffer.size() < (1u << 20))
        buffer.resize(buffer.size() * 2);
    return found != nullptr;
}

// The compiler's checks run on what the loader read even when the loader found errors, so one
// run reports both (a duplicate listed address and a bad port elsewhere).
CompiledConfig compile_loaded(ConfigDraft loaded, UserCheck user_check) {
    if (!loaded.parsed) return {std::nullopt, std::move(loaded.errors)};
    const MilterSettings& milter = loaded.config.milter;
    if (user_check == UserCheck::config_user && !milter.user.empty() && !user_exists(milter.user))
        loaded.errors.push_back({std::string(loaded.config.files.at(milter.user_file)), milter.user_line,
                                 "milter.user: no such user (\"" + milter.user + "\")"});
    Diagnostics found = compile_checks(loaded.config);
    loaded.errors.insert(loaded.errors.end(), std::make_move_iterator(found.begin()), std::make_move_iterator(found.end()));
    if (!loaded.errors.empty()) {
        sort_diagnostics(loaded.errors);
        return {std::nullopt, std::move(loaded.errors)};
    }
    return {std::move(loaded.config), {}};
}

PolicyResult opened(CompiledConfig compiled, const std::string& name) {
    if (!compiled.config) return {nullptr, std::move(compiled.errors)};
    Policy::Opened image = policy_in_memory(*compiled.config);
    if (!image.policy) return {nullptr, {{name, 0, image.error}}};
    return {std::move(image.policy), {}};
}

}  // namespace

CompiledConfig compile_config_file(const std::string& path, UserCheck user_check) {
    return compile_loaded(read_config_file(path), user_check);
}

CompiledConfig compile_config_text(std::string_view text, const std::string& name) {
    return compile_loaded(read_config_text(text, name), UserCheck::skip);
}

PolicyResult load_policy_file(const std::string& path, UserCheck user_check) {
    return opened(compile_config_file(path, user_check), path);
}

PolicyResult load_policy_text(std::string_view text, const std::string& name) {
    return opened(compile_config_text(text, name), name);
}

}  // namespace route_milter
