#include "route_milter/common/log.hpp"

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace route_milter {
namespace {
LogTarget log_target = LogTarget::stderr_stream;
}

void open_log(LogTarget target) {
    log_target = target;
    if (target == LogTarget::syslog) openlog("route-milter", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_line(int priority, const char* format, ...) {
    va_list args;
    va_start(args, format);
    log_vline(priority, format, args);
    va_end(args);
}

void log_vline(int priority, const char* format, va_list args) {
    char line[2048];
    std::vsnprintf(line, sizeof line, format, args);
    if (log_target == LogTarget::syslog) {
        syslog(priority, "%s", line);
        return;
    }
    const char* level = priority <= LOG_ERR ? "error: " : priority == LOG_WARNING ? "warning: " : "";
    std::fprintf(stderr, "route-milter: %s%s\n", level, line);
}

}  // namespace route_milter
