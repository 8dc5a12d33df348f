// wildcard.cpp - hMailServer's `*` / `?` route names: matching and covering.
#include "route_milter/hmailserver/wildcard.hpp"

#include <cstddef>

namespace route_milter::hmailserver {
namespace {

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Glob with backtracking to the last `*` (linear in practice, no recursion). In `covers` mode a
// `*` of the text is a symbol only a `*` of the pattern may consume.
bool glob(std::string_view p, std::string_view t, bool covers) {
    std::size_t pi = 0, ti = 0, star = std::string_view::npos, resume = 0;
    while (ti < t.size()) {
        const bool text_star = covers && t[ti] == '*';
        if (pi < p.size() && p[pi] == '*') {
            star = pi++;
            resume = ti;
        } else if (pi < p.size() && !text_star && (p[pi] == '?' || lower(p[pi]) == lower(t[ti]))) {
            ++pi;
            ++ti;
        } else if (star != std::string_view::npos) {
            pi = star + 1;
            ti = ++resume;
        } else {
            return false;
        }
    }
    while (pi < p.size() && p[pi] == '*') ++pi;
    return pi == p.size();
}

}  // namespace

bool wildcard_match(std::string_view pattern, std::string_view text) { return glob(pattern, text, false); }
bool wildcard_covers(std::string_view a, std::string_view b) { return glob(a, b, true); }

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = lower(c);
    return out;
}

}  // namespace route_milter::hmailserver
