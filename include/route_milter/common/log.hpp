// log.hpp - the daemon's log: syslog (mail facility) or stderr when run by hand.
#pragma once

#include <syslog.h>

namespace route_milter {

enum class LogTarget { syslog, stderr_stream };

void open_log(LogTarget target);

// printf-style; one call is one line. Never pass a password.
void log_line(int priority, const char* format, ...) __attribute__((format(printf, 2, 3)));

}  // namespace route_milter
