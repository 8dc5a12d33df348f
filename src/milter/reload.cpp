#include "reload.hpp"

#include "route_milter/common/log.hpp"

#include <chrono>
#include <cstdio>

namespace route_milter {

bool reload_policy(Live<Serving>& live, DecisionCounters* counters, const PolicySource& source) {
    const auto started = std::chrono::steady_clock::now();
    LoadedPolicy loaded = load_current_policy(source);
    if (!loaded.policy) {
        // One line says why; a config with several errors lists them first.
        if (loaded.report.size() == 1) {
            log_line(LOG_ERR, "reload failed, keeping the running policy: %s", loaded.report.front().c_str());
            return false;
        }
        for (const std::string& line : loaded.report) log_line(LOG_ERR, "reload: %s", line.c_str());
        log_line(LOG_ERR, "reload failed, keeping the running policy: %s", loaded.error.c_str());
        return false;
    }
    const auto running = live.snapshot();
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
    const std::shared_ptr<const Policy> next = loaded.policy;
    live.publish(make_serving(std::move(loaded.policy), counters));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const std::string how = loaded.compiled_because.empty() ? "image unchanged" : "compiled: " + loaded.compiled_because;
    log_line(LOG_INFO,
             "reloaded %s in %.2f s (%s): %u routes, %zu listed addresses, %zu ip ranges, mode %s, %zu routes in warn "
             "mode, digest %s",
             source.config.c_str(), seconds, how.c_str(), next->route_count(), next->listed_address_count(),
             next->config().ip_ranges.size(), std::string(name_of(next->config().mode)).c_str(),
             next->routes_in_mode(Mode::warn), next->config().digest.c_str());
    return true;
}

}  // namespace route_milter
