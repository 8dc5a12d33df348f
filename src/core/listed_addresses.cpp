#include "route_milter/core/listed_addresses.hpp"

#include <algorithm>

namespace route_milter {

void ListedAddresses::reserve_bytes(std::size_t bytes) {
    addresses_.reserve_arena(bytes);  // std::string grows geometrically here too
    // An address line is rarely under 8 bytes; reserved pages that stay unused cost no memory.
    // Geometric growth: many small files must not copy the records once each.
    const std::size_t wanted = records_.size() + bytes / 8 + 1;
    if (wanted > records_.capacity()) records_.reserve(std::max(wanted, records_.capacity() * 2));
}

void ListedAddresses::add(std::string_view canonical, std::uint32_t route, unsigned line, std::uint32_t file) {
    if (!records_.empty() && route < records_.back().route) in_route_order_ = false;
    records_.push_back({addresses_.store_key(canonical), route, line, file});
    indexed_ = false;
}

void ListedAddresses::sort_by_route() {
    if (in_route_order_) return;
    std::stable_sort(records_.begin(), records_.end(), [](const Record& a, const Record& b) { return a.route < b.route; });
    in_route_order_ = true;
}

std::span<const ListedAddresses::Record> ListedAddresses::of_route(std::uint32_t route) const {
    const auto [first, last] = std::equal_range(records_.begin(), records_.end(), Record{0, route, 0, 0},
                                                [](const Record& a, const Record& b) { return a.route < b.route; });
    return {first, last};
}

}  // namespace route_milter
