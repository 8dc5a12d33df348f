// log.hpp - the daemon's log: syslog (mail facility) or stderr when run by hand.
#pragma once

#include <syslog.h>

#include <cstdarg>
#include <string>
#include <string_view>

namespace route_milter {

enum class LogTarget { syslog, stderr_stream };

void open_log(LogTarget target);

// printf-style; one call is one line: a control character in it is written as \xNN
// (printable.hpp). Never pass a password.
void log_line(int priority, const char* format, ...) __attribute__((format(printf, 2, 3)));
void log_vline(int priority, const char* format, va_list args) __attribute__((format(printf, 2, 0)));

// The value of a key=value pair in a log line, as one word a reader can split on blanks:
// written as it is when it holds only printable characters other than blank, '"' and '\\';
// else (and when empty) in double quotes, '"' and '\\' as \" and \\, a control character or
// a byte that is not UTF-8 as \xNN: range="My computer". Postfix's from=<...> and to=<...>
// keep their own form.
std::string log_value(std::string_view value);

}  // namespace route_milter
