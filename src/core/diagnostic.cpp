#include "route_milter/core/diagnostic.hpp"

namespace route_milter {

std::string format_diagnostic(const Diagnostic& d) {
    std::string out = d.file.empty() ? std::string("(config)") : d.file;
    if (d.line != 0) out += ':' + std::to_string(d.line);
    out += ": ";
    out += d.message;
    return out;
}

}  // namespace route_milter
