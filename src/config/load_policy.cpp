#include "route_milter/config/load_policy.hpp"

#include "route_milter/config/config_loader.hpp"

#include <iterator>

namespace route_milter {

namespace {
// The compiler's checks run on what the loader read even when the loader found errors, so one
// run reports both (a duplicate listed address and a bad port elsewhere); the config moves
// into the compiler, never copied. Any error at all and there is no policy.
PolicyResult compile_loaded(ConfigDraft loaded) {
    if (!loaded.parsed) return PolicyResult{nullptr, std::move(loaded.errors)};
    PolicyResult compiled = compile_policy(std::move(loaded.config));
    if (loaded.errors.empty()) return compiled;
    loaded.errors.insert(loaded.errors.end(), std::make_move_iterator(compiled.errors.begin()),
                         std::make_move_iterator(compiled.errors.end()));
    sort_diagnostics(loaded.errors);
    return PolicyResult{nullptr, std::move(loaded.errors)};
}
}  // namespace

PolicyResult load_policy_file(const std::string& path) { return compile_loaded(read_config_file(path)); }

PolicyResult load_policy_text(std::string_view text, const std::string& name) {
    return compile_loaded(read_config_text(text, name));
}

}  // namespace route_milter
