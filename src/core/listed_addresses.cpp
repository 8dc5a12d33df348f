#include "route_milter/core/listed_addresses.hpp"

#include <algorithm>

namespace route_milter {

ListedAddresses::ListedAddresses(const ListedAddresses& other)
    : places_(other.places_), records_(other.records_), in_route_order_(other.in_route_order_), kept_(other.kept_) {
    for (std::uint32_t s = 0; s < shard_count; ++s)
        if (other.shards_[s]) shards_[s] = std::make_shared<Shard>(*other.shards_[s]);
    refresh_views();
}

void ListedAddresses::refresh_views() {
    for (std::uint32_t s = 0; s < shard_count; ++s) views_[s] = shards_[s] ? shards_[s]->index.view() : StringIndex::View{};
}

void ListedAddresses::place_route(std::uint32_t route, std::string_view pattern) {
    if (!placed(route)) place_in(route, shard_of(pattern));
}

void ListedAddresses::place_in(std::uint32_t route, std::uint32_t s) {
    if (route >= places_.size()) places_.resize(route + 1, unplaced);
    if (!shards_[s]) shards_[s] = std::make_shared<Shard>();
    places_[route] = s | (shards_[s]->tags++ << 8);
    shards_[s]->file_counts.push_back(0);
}

ListedAddresses::Shard& ListedAddresses::shard_for(std::uint32_t route) {
    if (!placed(route)) place_in(route, 0);
    return *shards_[places_[route] & 0xff];
}

void ListedAddresses::reserve_bytes(std::uint32_t route, std::size_t bytes) {
    shard_for(route).index.reserve_arena(bytes);  // std::string grows geometrically here too
    // An address line is rarely under 8 bytes; reserved pages that stay unused cost no memory.
    // Geometric growth: many small files must not copy the records once each.
    const std::size_t wanted = records_.size() + bytes / 8 + 1;
    if (wanted > records_.capacity()) records_.reserve(std::max(wanted, records_.capacity() * 2));
}

void ListedAddresses::add(std::string_view canonical, std::uint32_t route, unsigned line, std::uint32_t file) {
    Shard& shard = shard_for(route);
    if (!records_.empty() && route < records_.back().route) in_route_order_ = false;
    const std::uint32_t offset = shard.index.store_key(canonical);
    records_.push_back({offset, route, line, file});
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

std::uint32_t ListedAddresses::listed_count(std::uint32_t route) const {
    if (!placed(route)) return 0;
    const Shard& shard = *shards_[places_[route] & 0xff];
    const std::uint32_t tag = places_[route] >> 8;
    return tag < shard.listed_counts.size() ? shard.listed_counts[tag] : 0;
}

std::size_t ListedAddresses::indexed_count() const {
    std::size_t n = 0;
    for (const auto& s : shards_)
        if (s) n += s->index.size();
    return n;
}

std::size_t ListedAddresses::memory_bytes() const {
    std::size_t n = records_.capacity() * sizeof(Record) + places_.capacity() * sizeof(std::uint32_t);
    for (const auto& s : shards_)
        if (s) n += s->index.memory_bytes();
    return n;
}

std::size_t ListedAddresses::shards_in_use() const {
    return static_cast<std::size_t>(std::count_if(shards_.begin(), shards_.end(), [](const auto& s) { return s != nullptr; }));
}

void ListedAddresses::set_digest(std::uint32_t shard, const Digest& digest) {
    if (!shards_.at(shard) || kept_[shard]) return;
    shards_[shard]->digest = digest;
    shards_[shard]->digested = true;
}

const ListedAddresses::Digest* ListedAddresses::digest(std::uint32_t shard) const {
    const Shard* s = shards_.at(shard).get();
    return s != nullptr && s->digested ? &s->digest : nullptr;
}

void ListedAddresses::set_file_count(std::uint32_t route, std::uint32_t count) {
    if (!placed(route) || kept_[places_[route] & 0xff]) return;
    shards_[places_[route] & 0xff]->file_counts.at(places_[route] >> 8) = count;
}

std::uint32_t ListedAddresses::file_count(std::uint32_t route) const {
    if (!placed(route)) return 0;
    const Shard& shard = *shards_[places_[route] & 0xff];
    const std::uint32_t tag = places_[route] >> 8;
    return tag < shard.file_counts.size() ? shard.file_counts[tag] : 0;
}

void ListedAddresses::keep_shards_of(const ListedAddresses& running, const ShardSet& shards) {
    if (shards.none()) return;
    for (std::uint32_t s = 0; s < shard_count; ++s)
        if (shards[s] && running.shards_[s]) {
            shards_[s] = running.shards_[s];
            kept_.set(s);
        }
    std::erase_if(records_, [&](const Record& r) { return kept_[shard_of_route(r.route)]; });
    refresh_views();
}

}  // namespace route_milter
