// milter_metrics.cpp - the /metrics page; see milter_metrics.hpp.
#include "milter_metrics.hpp"

#include "route_milter/common/prometheus_text.hpp"
#include "route_milter/common/version.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>

namespace route_milter {
namespace {

double now_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

class Page {
public:
    void family(const char* name, const char* type, const char* help) {
        std::snprintf(buffer_, sizeof buffer_, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
        out += buffer_;
    }
    void sample(const char* name, double value) {
        std::snprintf(buffer_, sizeof buffer_, "%s %.17g\n", name, value);
        out += buffer_;
    }
    void sample(const char* name, std::uint64_t value) {
        std::snprintf(buffer_, sizeof buffer_, "%s %" PRIu64 "\n", name, value);
        out += buffer_;
    }
    void metric(const char* name, const char* type, const char* help, std::uint64_t value) {
        family(name, type, help);
        sample(name, value);
    }
    std::string out;

private:
    char buffer_[512];
};

// /proc/self/stat fields after the command name: utime (14), stime (15), vsize (23), rss (24).
struct ProcStat {
    double cpu_seconds = 0;
    std::uint64_t virtual_bytes = 0;
    std::uint64_t resident_bytes = 0;
};

bool read_proc_stat(ProcStat& out) {
    std::ifstream in("/proc/self/stat");
    std::string text;
    if (!std::getline(in, text)) return false;
    const std::size_t close = text.rfind(')');  // the command name may hold blanks and ')'
    if (close == std::string::npos) return false;
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    std::uint64_t utime = 0, stime = 0;
    // Field 3 (state) is the first one after the name.
    for (int n = 3; fields >> field; ++n) {
        if (n == 14) utime = std::stoull(field);
        else if (n == 15) stime = std::stoull(field);
        else if (n == 23) out.virtual_bytes = std::stoull(field);
        else if (n == 24) {
            out.resident_bytes = std::stoull(field) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
            break;
        }
    }
    out.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
    return true;
}

long open_fds() {
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return -1;
    long n = 0;
    while (const dirent* e = ::readdir(dir))
        if (e->d_name[0] != '.') ++n;
    ::closedir(dir);
    return n - 1;  // the directory's own descriptor
}

}  // namespace

MilterMetrics::MilterMetrics() : start_time_(now_seconds()), last_success_(start_time_) {}

void MilterMetrics::reload_done(bool ok) {
    (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed);
    if (ok) last_success_.store(now_seconds(), std::memory_order_relaxed);
    last_reload_ok_.store(ok, std::memory_order_relaxed);
}

std::string MilterMetrics::render(const Serving& serving) const {
    Page page;
    const Config& config = serving.policy->config();
    std::uint64_t rcpts = 0;

    page.family("route_milter_decisions_total", "counter",
                "RCPT TO decisions by rule, route (its domain pattern; none: no route) and mode. A series appears "
                "once it counts, and leaves once its route is in no policy in use.");
    const std::uint64_t removed = counters.for_each([&](const DecisionCounters::Slot& slot) {
        for (std::size_t rule = 0; rule < rule_names.size(); ++rule)
            for (std::size_t mode = 0; mode < mode_count; ++mode) {
                const std::uint64_t n = slot.counts[rule * mode_count + mode].load(std::memory_order_relaxed);
                if (n == 0) continue;
                rcpts += n;
                page.out += "route_milter_decisions_total{rule=\"";
                page.out += name_of(static_cast<Rule>(rule));
                page.out += "\",route=\"";
                append_label_value(page.out, slot.route);
                page.out += "\",mode=\"";
                page.out += name_of(static_cast<Mode>(mode));
                page.out += "\"} " + std::to_string(n) + "\n";
            }
    });
    const std::uint64_t tempfails = counters.tempfails.load(std::memory_order_relaxed);
    page.metric("route_milter_rcpt_total", "counter", "RCPT TO commands the milter answered.",
                rcpts + removed + counters.undecided.load(std::memory_order_relaxed));
    page.metric("route_milter_rcpt_tempfails_total", "counter",
                "RCPT TO commands answered 4xx by the milter itself (an internal failure).", tempfails);
    page.metric("route_milter_connections_total", "counter", "MTA connections (SMTP sessions) the milter saw.",
                counters.connections.load(std::memory_order_relaxed));

    page.family("route_milter_reloads_total", "counter", "Configuration reloads (SIGHUP) by result.");
    page.out += "route_milter_reloads_total{result=\"ok\"} " +
                std::to_string(reloads_ok_.load(std::memory_order_relaxed)) + "\n";
    page.out += "route_milter_reloads_total{result=\"failed\"} " +
                std::to_string(reloads_failed_.load(std::memory_order_relaxed)) + "\n";
    page.family("route_milter_config_last_reload_successful", "gauge",
                "1 when the last reload (or the start) took the new configuration, 0 when it failed.");
    page.sample("route_milter_config_last_reload_successful",
                std::uint64_t{last_reload_ok_.load(std::memory_order_relaxed) ? 1u : 0u});
    page.family("route_milter_config_last_reload_success_timestamp_seconds", "gauge",
                "When the configuration in force was loaded (start or reload), seconds since the epoch.");
    page.sample("route_milter_config_last_reload_success_timestamp_seconds",
                last_success_.load(std::memory_order_relaxed));
    page.family("route_milter_config_info", "gauge", "The configuration in force: sha256 of the files read.");
    page.out += "route_milter_config_info{digest=\"";
    append_label_value(page.out, config.digest);
    page.out += "\"} 1\n";

    page.metric("route_milter_routes", "gauge", "Routes in the configuration in force.", serving.policy->route_count());
    page.metric("route_milter_routes_in_warn_mode", "gauge", "Routes whose refusals are only logged (mode warn).",
                serving.policy->routes_in_mode(Mode::warn));
    page.metric("route_milter_listed_addresses", "gauge", "Listed addresses of all routes.",
                serving.policy->listed_address_count());
    page.metric("route_milter_ip_ranges", "gauge", "IP ranges in the configuration in force.",
                config.ip_ranges.size());
    page.family("route_milter_build_info", "gauge", "The running version.");
    page.out += "route_milter_build_info{version=\"";
    append_label_value(page.out, version);
    page.out += "\"} 1\n";

    page.family("process_start_time_seconds", "gauge", "Start time of the process since the epoch, in seconds.");
    page.sample("process_start_time_seconds", start_time_);
    if (ProcStat stat; read_proc_stat(stat)) {
        page.family("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
        page.sample("process_cpu_seconds_total", stat.cpu_seconds);
        page.metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", stat.virtual_bytes);
        page.metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", stat.resident_bytes);
    }
    if (const long fds = open_fds(); fds >= 0)
        page.metric("process_open_fds", "gauge", "Number of open file descriptors.", static_cast<std::uint64_t>(fds));
    if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0)
        page.metric("process_max_fds", "gauge", "Maximum number of open file descriptors.",
                    static_cast<std::uint64_t>(limit.rlim_cur));
    return std::move(page.out);
}

}  // namespace route_milter
