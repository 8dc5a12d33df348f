#include "route_milter/config/load_policy.hpp"

#include "route_milter/config/config_loader.hpp"

#include <malloc.h>
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

// The big blocks of a policy (the address arena, its records and slots) grow by doubling. With
// glibc's moving mmap threshold every block given up on the way would stay in the heap, and a
// million addresses would hold twice their size; a fixed threshold maps each big block on its
// own and unmaps it when freed, so RSS is what is in use, also across reloads.
void tune_malloc() {
    static const bool tuned = mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1;
    (void)tuned;
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
    const bool big = loaded.config.routes.size() >= 1000 || loaded.config.listed.record_count() >= 100000;
    PolicyResult compiled = compile_policy(std::move(loaded.config), lists);
    // The records the compiler dropped and whatever it freed: back to the system, so a reload
    // leaves the daemon as big as a fresh start.
    if (big) malloc_trim(0);
    if (loaded.errors.empty() || compiled.rebuild_listed) return compiled;
    loaded.errors.insert(loaded.errors.end(), std::make_move_iterator(compiled.errors.begin()),
                         std::make_move_iterator(compiled.errors.end()));
    sort_diagnostics(loaded.errors);
    return PolicyResult{nullptr, std::move(loaded.errors)};
}
}  // namespace

PolicyResult load_policy_file(const std::string& path, UserCheck user_check, ListedAddressUse lists,
                              const Policy* running, std::int64_t settle_ns) {
    tune_malloc();
    const Config* was = running != nullptr ? &running->config() : nullptr;
    ConfigDraft draft = read_config_file(path, {}, was, settle_ns);
    const bool reused = draft.config.parse_reused;
    PolicyResult result = compile_loaded(std::move(draft), user_check, lists);
    // An error in a part of the index kept from the running policy has no file:line left to name.
    if (result.rebuild_listed) result = compile_loaded(read_config_file(path, {}, nullptr), user_check, lists);
    // A refusal, by the loader or the compiler, of a reload that took the running routes over is
    // made again from a parse: its report then reads word for word as a first load's (address
    // files named as written, each error where the parse finds it). The first attempt is freed.
    else if (reused && result.policy == nullptr)
        result = compile_loaded(read_config_file(path, {}, was, settle_ns, ParseReuse::never), user_check, lists);
    return result;
}

PolicyResult load_policy_text(std::string_view text, const std::string& name) {
    tune_malloc();
    return compile_loaded(read_config_text(text, name));
}

}  // namespace route_milter
