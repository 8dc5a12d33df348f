#include "live_policy.hpp"

#include "log.hpp"
#include "route_milter/config_loader.hpp"

namespace route_milter {

bool reload_policy(LivePolicy& live, const std::string& path) {
    ConfigResult loaded = load_config_file(path);
    if (!loaded.config) {
        for (const Diagnostic& d : loaded.errors) log_line(LOG_ERR, "reload: %s", format_diagnostic(d).c_str());
        log_line(LOG_ERR, "reload of %s failed with %zu error(s); keeping the running policy", path.c_str(),
                 loaded.errors.size());
        return false;
    }
    const auto running = live.snapshot();
    const MilterSettings& was = running->config().milter;
    const MilterSettings& now = loaded.config->milter;
    if (was.socket != now.socket || was.user != now.user || was.timeout != now.timeout)
        log_line(LOG_WARNING, "reload: milter { socket, user, timeout } changes take effect only at restart");
    const std::size_t routes = loaded.config->routes.size();
    auto next = compile_policy(std::move(*loaded.config));
    log_line(LOG_INFO, "reloaded %s: %zu routes, %zu listed addresses, %zu ip ranges", path.c_str(), routes,
             next->listed_address_count(), next->config().ip_ranges.size());
    live.publish(std::move(next));
    return true;
}

}  // namespace route_milter
