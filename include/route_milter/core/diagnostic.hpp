// diagnostic.hpp - one problem found in user input, located as file:line.
//
// Every loader and compiler collects all of its problems as Diagnostics instead of stopping at
// the first, so an administrator sees the whole list at once (like `postfix check`).
#pragma once

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

namespace route_milter {

struct Diagnostic {
    std::string file;     // config file the problem is in
    unsigned line = 0;    // 1-based; 0 when no line applies (e.g. a file permission problem)
    std::string message;  // "what is wrong (value)"
};

using Diagnostics = std::vector<Diagnostic>;

// "file:line: message", or "file: message" when no line applies; one line, each control
// character of the file name or message shown as \xNN (printable.hpp).
std::string format_diagnostic(const Diagnostic& d);

// By file, then line; diagnostics of one line keep their order.
inline void sort_diagnostics(Diagnostics& errors) {
    std::stable_sort(errors.begin(), errors.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.file, a.line) < std::tie(b.file, b.line);
    });
}

}  // namespace route_milter
