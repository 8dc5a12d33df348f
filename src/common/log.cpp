#include "route_milter/common/log.hpp"

#include "route_milter/core/printable.hpp"

#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <string>

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
    // One call, one line: whatever a value in it holds cannot start another (printable.hpp).
    const std::string shown = printable(line);
    if (log_target == LogTarget::syslog) {
        syslog(priority, "%s", shown.c_str());
        return;
    }
    const char* level = priority <= LOG_ERR ? "error: " : priority == LOG_WARNING ? "warning: " : "";
    std::fprintf(stderr, "route-milter: %s%s\n", level, shown.c_str());
}

std::string log_value(std::string_view value) {
    std::string escaped;
    bool quote = value.empty();
    for (const char ch : value) {
        quote = quote || ch == ' ';
        if (ch == '"' || ch == '\\') escaped += '\\';
        escaped += ch;
    }
    escaped = printable(escaped);
    if (!quote && escaped == value) return escaped;
    return '"' + escaped + '"';
}

}  // namespace route_milter
