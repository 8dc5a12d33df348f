// log.hpp - the daemon's log: syslog (mail facility) or stderr when run by hand.
#pragma once

#include <syslog.h>

#include <cstdarg>

namespace route_milter {

enum class LogTarget { syslog, stderr_stream };

void open_log(LogTarget target);

// printf-style; one call is one line: a control character in it is written as \xNN
// (printable.hpp). Never pass a password.
void log_line(int priority, const char* format, ...) __attribute__((format(printf, 2, 3)));
void log_vline(int priority, const char* format, va_list args) __attribute__((format(printf, 2, 0)));

}  // namespace route_milter
