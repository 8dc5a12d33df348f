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

// Which names a lookup finds: a name without wildcards covers only itself; "*.suffix" every
// name ending in ".suffix" (its '*' takes any text, a '*' of the other name included); "*"
// every name. Any other pattern is compared one by one.
std::optional<std::uint32_t> CoveringNames::first_covering(std::string_view raw) {
    const std::string name = ascii_lower(raw);
    std::optional<std::uint32_t> first = catch_all_;
    const auto consider = [&first](const std::uint32_t* position) {
        if (position != nullptr && (!first || *position < *first)) first = *position;
    };
    consider(exact_.find(name));
    for (std::size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1))
        consider(suffixes_.find(std::string_view(name).substr(dot)));
    for (const auto& [pattern, position] : patterns_) {
        if (first && *first < position) break;  // added in order: none later can come first
        ++comparisons_;
        if (wildcard_covers(pattern, name)) {
            first = position;
            break;
        }
    }
    return first;
}

void CoveringNames::add(std::string_view raw, std::uint32_t position) {
    const std::string name = ascii_lower(raw);
    const std::size_t wild = name.find_first_of("*?");
    if (wild == std::string::npos) {
        exact_.insert(name, position);
    } else if (name == "*") {
        if (!catch_all_) catch_all_ = position;
    } else if (name.starts_with("*.") && name.find_first_of("*?", 1) == std::string::npos) {
        suffixes_.insert(std::string_view(name).substr(1), position);
    } else {
        patterns_.emplace_back(name, position);
    }
}

}  // namespace route_milter::hmailserver
