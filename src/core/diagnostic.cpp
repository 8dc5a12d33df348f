#include "route_milter/core/diagnostic.hpp"

#include "route_milter/core/printable.hpp"

namespace route_milter {

std::string format_diagnostic(const Diagnostic& d) {
    // One line, whatever a file name or a value shown in the message holds.
    std::string out = d.file.empty() ? std::string("(config)") : printable(d.file);
    if (d.line != 0) out += ':' + std::to_string(d.line);
    out += ": ";
    out += printable(d.message);
    return out;
}

}  // namespace route_milter
