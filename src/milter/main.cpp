// route-milter - the RCPT TO milter daemon.
//
// Start-up order: block SIGHUP, map the current policy image (compiled first when it is
// missing or its sources changed; exit 78 on any error), open the socket as the starting user,
// hand it to the configured user, drop privileges, then serve. SIGHUP reloads (libmilter_wraps), SIGTERM stops cleanly (libmilter's
// own handling); a SIGHUP sent during start-up reloads once, as soon as the daemon serves.
#include "libmilter_wraps.hpp"
#include "reload.hpp"
#include "route_milter/common/log.hpp"
#include "metrics_server.hpp"
#include "milter_callbacks.hpp"
#include "milter_metrics.hpp"
#include "policy_source.hpp"
#include "route_milter/core/policy.hpp"
#include "route_milter/common/version.hpp"

#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <variant>

using namespace route_milter;

namespace {

Live<Serving>* live = nullptr;
MilterMetrics* metrics = nullptr;  // nullptr: no metrics group in the config
PolicySource source{default_config_path, default_image_path, "", false};

void usage(FILE* out) {
    std::fprintf(out,
                 "usage: route-milter [-c FILE] [-i IMAGE] [-p SOCKET] [-u USER] [-l syslog|stderr] [-t] [-V]\n"
                 "  -c FILE    configuration (default %s)\n"
                 "  -i IMAGE   the compiled policy (default %s), compiled again when the configuration changed\n"
                 "  -p SOCKET  listen here instead of milter.socket: unix:/path, inet:PORT@HOST or inet6:PORT@HOST\n"
                 "  -u USER    run as USER instead of milter.user (the socket goes to USER's group)\n"
                 "  -l TARGET  log to syslog (mail facility) or stderr (default: stderr on a terminal)\n"
                 "  -t         check the configuration, print every error, exit 0 or 78 (EX_CONFIG)\n"
                 "  -V         print the version\n",
                 default_config_path, default_image_path);
}

void block_signals(std::initializer_list<int> signals) {
    sigset_t set;
    sigemptyset(&set);
    for (const int s : signals) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

[[noreturn]] void fail(int code, const char* format, const std::string& detail) {
    log_line(LOG_ERR, format, detail.c_str());
    std::exit(code);
}

void reload_on_sighup() {
    log_line(LOG_INFO, "SIGHUP: reloading %s", source.config.c_str());
    sd_notify(0, "RELOADING=1");  // systemd (Type=notify): no-ops when not started by it
    const bool taken = reload_policy(*live, metrics != nullptr ? &metrics->counters : nullptr, source);
    if (metrics != nullptr) {
        metrics->reload_done(taken);
        // The reload's own hold on the policy it replaced is gone by now: that policy's routes,
        // unless a connection still runs under it, no longer need their counters.
        metrics->counters.drop_unheld();
    }
    sd_notifyf(0, "READY=1\nSTATUS=%s", taken ? "running the reloaded config" : "reload failed, running the old config");
}

// Removes a stale unix socket; refuses a path that is not a socket or one still in use.
void clear_stale_socket(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno != ENOENT) fail(EX_OSERR, "cannot check socket path %s", path + ": " + std::strerror(errno));
        return;
    }
    if (!S_ISSOCK(st.st_mode)) fail(EX_CONFIG, "%s", path + " exists and is not a socket; refusing to replace it");
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) fail(EX_CONFIG, "socket path too long: %s", path);
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    const int probe = ::socket(AF_UNIX, SOCK_STREAM, 0);
    const bool in_use = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    if (probe >= 0) ::close(probe);
    if (in_use) fail(EX_UNAVAILABLE, "%s", "another process is listening on " + path);
    if (::unlink(path.c_str()) != 0) fail(EX_OSERR, "cannot remove stale socket %s", path + ": " + std::strerror(errno));
}

// The user the daemon runs as; `named` is false when it stays the starting user.
struct RunAs {
    bool named = false;
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
};

// False when there is no such user.
bool look_up_user(const std::string& name, RunAs& out) {
    errno = 0;
    const passwd* pw = ::getpwnam(name.c_str());
    if (pw == nullptr) return false;
    out = RunAs{true, name, pw->pw_uid, pw->pw_gid};
    return true;
}

void drop_privileges(const RunAs& user) {
    if (::geteuid() != 0) {
        if (::geteuid() != user.uid)
            fail(EX_NOPERM, "%s", "milter.user is \"" + user.name + "\" but the daemon was not started as root");
        return;
    }
    if (::initgroups(user.name.c_str(), user.gid) != 0 || ::setgid(user.gid) != 0 || ::setuid(user.uid) != 0)
        fail(EX_OSERR, "cannot switch to user %s", user.name + ": " + std::strerror(errno));
    if (::setuid(0) == 0) fail(EX_SOFTWARE, "%s", std::string("could still regain root after dropping privileges"));
}

// -t: the config compiled into a private image, which is then opened as the daemon would.
int check_config(const std::optional<std::string>& user_override) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp") + "/route-milter-check.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) fail(EX_CANTCREAT, "cannot create a directory for the check: %s", std::strerror(errno));
    PolicySource checked = source;
    checked.image = pattern + "/image";
    LoadedPolicy loaded = load_current_policy(checked);
    std::error_code ignored;
    std::filesystem::remove_all(pattern, ignored);
    if (!loaded.policy) {
        for (const std::string& line : loaded.report) log_line(LOG_ERR, "%s", line.c_str());
        log_line(LOG_ERR, "%s", loaded.error.c_str());
        return EX_CONFIG;
    }
    const Policy& p = *loaded.policy;
    const std::string user = user_override.value_or(p.config().milter.user);
    RunAs found;
    if (!user.empty() && !look_up_user(user, found)) {
        log_line(LOG_ERR, "%s: %s: no such user (\"%s\")", source.config.c_str(), user_override ? "-u" : "milter.user",
                 user.c_str());
        return EX_CONFIG;
    }
    std::printf("%s: OK (%u routes, %zu listed addresses, %zu ip ranges, digest %s)\n", source.config.c_str(),
                p.route_count(), p.listed_address_count(), p.config().ip_ranges.size(), p.config().digest.c_str());
    return EX_OK;
}

struct Options {
    std::optional<MilterSocket> socket_override;
    std::optional<std::string> user_override;
    std::optional<LogTarget> log_target;
    bool check_only = false;
};

// The command line into `o` (and `source`); an exit status when the daemon is not to run.
std::optional<int> parse_options(int argc, char** argv, Options& o) {
    auto& [socket_override, user_override, log_target, check_only] = o;
    int opt;
    while ((opt = ::getopt(argc, argv, "c:i:p:u:l:tVh")) != -1) {
        switch (opt) {
        case 'c': source.config = optarg; break;
        case 'i': source.image = optarg; break;
        case 'p': {
            // Checked before anything is read or opened: a bad -p is a usage error.
            auto parsed = MilterSocket::parse(optarg);
            if (const auto* why = std::get_if<std::string>(&parsed)) {
                std::fprintf(stderr, "route-milter: -p: %s\n", why->c_str());
                return EX_USAGE;
            }
            socket_override = std::get<MilterSocket>(std::move(parsed));
            break;
        }
        case 'u': user_override = optarg; break;
        case 'l':
            if (std::strcmp(optarg, "syslog") == 0) log_target = LogTarget::syslog;
            else if (std::strcmp(optarg, "stderr") == 0) log_target = LogTarget::stderr_stream;
            else { usage(stderr); return EX_USAGE; }
            break;
        case 't': check_only = true; break;
        case 'V': std::printf("route-milter %s (libmilter)\n", version); return EX_OK;
        case 'h': usage(stdout); return EX_OK;
        default: usage(stderr); return EX_USAGE;
        }
    }
    if (optind != argc) { usage(stderr); return EX_USAGE; }
    return std::nullopt;
}

// Opens the milter's socket as the starting user (the unix one born 0660, handed to `user`'s
// group); its path, or "" for TCP.
std::string open_socket(const MilterSocket& listen, const RunAs& user) {
    const std::string socket = listen.text();
    const std::string path = listen.is_unix() ? listen.path() : std::string();
    if (!path.empty()) clear_stale_socket(path);
    const mode_t old_umask = ::umask(0117);
    const int opened = smfi_opensocket(false);
    ::umask(old_umask);
    if (opened != MI_SUCCESS) fail(EX_UNAVAILABLE, "cannot open socket %s (does its directory exist?)", socket);
    if (!path.empty()) {
        ::chmod(path.c_str(), 0660);
        if (user.named && ::geteuid() == 0 && ::chown(path.c_str(), user.uid, user.gid) != 0)
            fail(EX_OSERR, "cannot hand the socket to milter.user: %s", path + ": " + std::strerror(errno));
    }
    return path;
}

void log_start(const Policy& p, const std::string& socket, const std::optional<MetricsSettings>& metrics_settings) {
    log_line(LOG_INFO,
             "starting %s on %s: config %s, %zu routes, %zu listed addresses, %zu ip ranges, scope %s, mode %s, "
             "%zu routes in warn mode, digest %s, metrics %s",
             version, socket.c_str(), source.config.c_str(), static_cast<std::size_t>(p.route_count()),
             p.listed_address_count(), p.config().ip_ranges.size(), std::string(name_of(p.config().scope)).c_str(),
             std::string(name_of(p.config().mode)).c_str(), p.routes_in_mode(Mode::warn), p.config().digest.c_str(),
             metrics_settings ? metrics_settings->listen.text().c_str() : "off");
}

}  // namespace

int main(int argc, char** argv) {
    // First of all: a config push may reload while the first load runs (a second or more with a
    // million addresses), and SIGHUP's default action would end the daemon. Blocked, it waits
    // (several arrivals make one) for libmilter's signal thread, which reloads once serving.
    block_signals({SIGHUP});
    Options options;
    if (const std::optional<int> exit_status = parse_options(argc, argv, options)) return *exit_status;
    const auto& [socket_override, user_override, log_target, check_only] = options;
    open_log(check_only ? LogTarget::stderr_stream
                        : log_target.value_or(::isatty(STDERR_FILENO) ? LogTarget::stderr_stream : LogTarget::syslog));

    source.compiler = sibling_compiler();
    source.skip_user_check = user_override.has_value();
    if (check_only) return check_config(user_override);
    LoadedPolicy loaded = load_current_policy(source);
    if (!loaded.policy) {
        for (const std::string& line : loaded.report) log_line(LOG_ERR, "%s", line.c_str());
        log_line(LOG_ERR, "%s; not starting", loaded.error.c_str());
        return EX_CONFIG;
    }
    if (!loaded.compiled_because.empty())
        log_line(LOG_INFO, "compiled %s into %s (%s)", source.config.c_str(), source.image.c_str(),
                 loaded.compiled_because.c_str());
    const std::string user_name = user_override.value_or(loaded.policy->config().milter.user);
    RunAs user;
    if (!user_name.empty() && !look_up_user(user_name, user)) {
        log_line(LOG_ERR, "%s: %s: no such user (\"%s\"); not starting", source.config.c_str(),
                 user_override ? "-u" : "milter.user", user_name.c_str());
        return EX_CONFIG;
    }

    // From here on SIGTERM/SIGINT, as SIGHUP since the start, wait for libmilter's signal thread
    // (started in smfi_main) instead of ending the process. Not before: a stop asked for during
    // the load, when nothing is open yet, ends it at once.
    block_signals({SIGTERM, SIGINT});

    const MilterSettings settings = loaded.policy->config().milter;
    const std::optional<MetricsSettings> metrics_settings = loaded.policy->config().metrics;
    const MilterSocket listen = socket_override.value_or(settings.socket);
    const std::string socket = listen.text();
    std::unique_ptr<MilterMetrics> counted;
    if (metrics_settings) counted = std::make_unique<MilterMetrics>();
    metrics = counted.get();
    Live<Serving> policy(make_serving(std::move(loaded.policy), metrics != nullptr ? &metrics->counters : nullptr));
    live = &policy;

    smfiDesc description = milter_description(policy);
    if (smfi_register(description) != MI_SUCCESS) fail(EX_SOFTWARE, "%s", std::string("smfi_register failed"));
    if (smfi_setconn(const_cast<char*>(socket.c_str())) != MI_SUCCESS) fail(EX_CONFIG, "bad socket %s", socket);
    if (smfi_settimeout(settings.timeout) != MI_SUCCESS) fail(EX_SOFTWARE, "%s", std::string("smfi_settimeout failed"));
    const std::string path = open_socket(listen, user);
    // Bound as the starting user (a port below 1024 needs root); its thread has the signals
    // blocked above, so SIGHUP still reaches libmilter's signal thread only.
    std::unique_ptr<MetricsServer> metrics_server;
    if (metrics_settings) {
        auto started = MetricsServer::start(*metrics_settings, [] { return metrics->render(*live->snapshot()); });
        if (auto* why = std::get_if<std::string>(&started)) fail(EX_UNAVAILABLE, "metrics: %s", *why);
        metrics_server = std::move(std::get<std::unique_ptr<MetricsServer>>(started));
    }
    // A reload compiles as that user: the image compiled as root at the start must be its.
    if (user.named && ::geteuid() == 0 && ::chown(source.image.c_str(), user.uid, user.gid) != 0)
        fail(EX_OSERR, "cannot hand the policy image to the milter's user: %s", source.image + ": " + std::strerror(errno));
    if (user.named) drop_privileges(user);
    else if (!path.empty() && ::geteuid() == 0)
        log_line(LOG_WARNING, "socket %s belongs to root (mode 0660): Postfix cannot connect unless it runs as "
                              "root; set milter.user or -u", path.c_str());

    enable_tcp_quickack(!listen.is_unix());
    set_sighup_handler(reload_on_sighup);
    set_listen_address(listen);
    // Not held here for the daemon's life: that would keep the first image mapped after every reload.
    log_start(*policy.snapshot()->policy, socket, metrics_settings);
    // The socket is listening (connections wait in its backlog until smfi_main accepts them):
    // systemd may start Postfix now, with no window of 4xx answers.
    sd_notifyf(0, "READY=1\nSTATUS=listening on %s", socket.c_str());
    const int rc = smfi_main();
    sd_notify(0, "STOPPING=1");
    log_line(LOG_INFO, "stopped");
    if (!path.empty()) ::unlink(path.c_str());
    return rc == MI_SUCCESS ? EX_OK : EX_SOFTWARE;
}
