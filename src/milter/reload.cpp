#include "route_milter/config/load_policy.hpp"
#include "reload.hpp"

#include "route_milter/common/log.hpp"

namespace route_milter {

bool reload_policy(LivePolicy& live, const std::string& path, UserCheck user_check) {
    PolicyResult loaded = load_policy_file(path, user_check);
    if (!loaded.policy) {
        // One line says why; a config with several errors lists them first.
        if (loaded.errors.size() == 1) {
            log_line(LOG_ERR, "reload failed, keeping the running policy: %s",
                     format_diagnostic(loaded.errors.front()).c_str());
            return false;
        }
        for (const Diagnostic& d : loaded.errors) log_line(LOG_ERR, "reload: %s", format_diagnostic(d).c_str());
        log_line(LOG_ERR, "reload failed, keeping the running policy: %s has %zu errors", path.c_str(),
                 loaded.errors.size());
        return false;
    }
    const auto running = live.snapshot();
    const MilterSettings& was = running->config().milter;
    const MilterSettings& now = loaded.policy->config().milter;
    if (was.socket != now.socket || was.user != now.user || was.timeout != now.timeout)
        log_line(LOG_WARNING, "reload: milter { socket, user, timeout } changes take effect only at restart");
    const Policy& next = *loaded.policy;
    log_line(LOG_INFO, "reloaded %s: %zu routes, %zu listed addresses, %zu ip ranges, mode %s, %zu routes in warn mode",
             path.c_str(), next.config().routes.size(), next.listed_address_count(), next.config().ip_ranges.size(),
             std::string(name_of(next.config().mode)).c_str(), routes_in_mode(next.config(), Mode::warn));
    live.publish(std::move(loaded.policy));
    return true;
}

}  // namespace route_milter
