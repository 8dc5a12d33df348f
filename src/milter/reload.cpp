#include "route_milter/config/load_policy.hpp"
#include "reload.hpp"

#include "route_milter/common/log.hpp"

#include <chrono>
#include <cstdio>
#include <malloc.h>

namespace route_milter {

namespace {
// Runs when a reload is over, whatever its outcome: the policy it replaced (unless a connection
// still pins it; its last close frees it, and the next reload hands its pages back) or the one it
// refused is freed by then, and its pages go back to the system, so RSS returns to where it was.
struct GiveBackMemory {
    ~GiveBackMemory() { malloc_trim(0); }
};
}  // namespace

bool reload_policy(Live<Serving>& live, DecisionCounters* counters, const std::string& path, UserCheck user_check) {
    const GiveBackMemory give_back;  // destroyed last: after `loaded` and `running` below
    const auto started = std::chrono::steady_clock::now();
    const auto running = live.snapshot();
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
    const MilterSettings& was = running->policy->config().milter;
    const MilterSettings& now = loaded.policy->config().milter;
    if (was.socket != now.socket || was.user != now.user || was.timeout != now.timeout)
        log_line(LOG_WARNING, "reload: milter { socket, user, timeout } changes take effect only at restart");
    const auto& metrics_was = running->policy->config().metrics;
    const auto& metrics_now = loaded.policy->config().metrics;
    if (metrics_was.has_value() != metrics_now.has_value() ||
        (metrics_was && (metrics_was->listen != metrics_now->listen ||
                         metrics_was->max_connections != metrics_now->max_connections ||
                         metrics_was->timeout != metrics_now->timeout)))
        log_line(LOG_WARNING, "reload: metrics { listen, max_connections, timeout } changes take effect only at restart");
    // Kept for the log line, which follows the publication: "reloaded" means in force, and a
    // connection made once it is logged runs the new policy.
    const std::shared_ptr<const Policy> published = loaded.policy;
    live.publish(make_serving(std::move(loaded.policy), counters));
    const Policy& next = *published;
    // How long the new policy took to be made (read, checked, compiled), up to this line.
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    log_line(LOG_INFO,
             "reloaded %s in %.2f s: %zu routes, %zu listed addresses, %zu ip ranges, mode %s, %zu routes in warn "
             "mode, digest %s",
             path.c_str(), seconds, next.config().routes.size(), next.listed_address_count(),
             next.config().ip_ranges.size(),
             std::string(name_of(next.config().mode)).c_str(), routes_in_mode(next.config(), Mode::warn),
             next.config().digest.c_str());
    return true;
}

}  // namespace route_milter
