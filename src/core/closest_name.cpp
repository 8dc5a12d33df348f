// closest_name.cpp - the nearest known name by edit distance (optimal string alignment).
#include "route_milter/core/closest_name.hpp"

#include <algorithm>
#include <vector>

namespace route_milter {
namespace {

char folded(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Three rows of the dynamic-programming table: the one before last is needed for a swap.
    std::vector<std::size_t> before(b.size() + 1), last(b.size() + 1), row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) last[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const bool same = folded(a[i - 1]) == folded(b[j - 1]);
            row[j] = std::min({last[j] + 1, row[j - 1] + 1, last[j - 1] + (same ? 0 : 1)});
            if (i > 1 && j > 1 && folded(a[i - 1]) == folded(b[j - 2]) && folded(a[i - 2]) == folded(b[j - 1]))
                row[j] = std::min(row[j], before[j - 2] + 1);
        }
        std::swap(before, last);
        std::swap(last, row);
    }
    return last[b.size()];
}

}  // namespace

std::optional<std::string_view> closest_name(std::string_view written, std::span<const std::string_view> known) {
    const std::size_t near_enough = written.size() <= 4 ? 1 : 2;
    std::optional<std::string_view> best;
    std::size_t best_distance = near_enough + 1;
    for (const std::string_view name : known) {
        if (name == written) continue;
        const std::size_t d = edit_distance(written, name);
        if (d < best_distance) best = name, best_distance = d;
    }
    return best;
}

}  // namespace route_milter
