// listed_addresses.hpp - every address a config lists, in 256 parts that reloads can share.
//
// NAME
//   ListedAddresses - the compact store of a config's listed addresses (inline `addresses` and
//   `addresses_file` alike).
// SYNOPSIS
//   listed.place_route(route, "example.com");            // the loader, before its addresses
//   listed.add("alice@example.com", route, line, file);  // route by route, canonical form
//   listed.index(on_duplicate);                          // once, by compile_policy
//   listed.lists(route, "alice@example.com");            // the RCPT path: no allocation
// DESCRIPTION
//   A million addresses must not cost a million std::strings: their bytes go into arenas, each
//   with a 20-byte record (route, and the file:line it came from for diagnostics and routectl's
//   maps). A route's addresses go to one of 256 shards, chosen by its domain pattern alone, so a
//   route keeps its shard whatever routes come and go around it. index() hashes each shard's
//   keys in place: the key is the pair (address, the route's tag in its shard), so a lookup
//   asks "does this route list this address", and an address two routes list is indexed twice
//   (compile_policy reports that: the shards cannot see each other). drop_records() frees the
//   records once nothing needs the lines any more (the daemon).
//   A reload shares the shards whose inputs are unchanged (keep_shards_of): the loader digests
//   each shard's inputs (its routes' domains and deliver_to, inline addresses, file names and
//   the files' sha256) and keeps a running shard with the same digest. A SIGHUP after one file
//   changed builds one shard, not the whole index beside the running one.
#pragma once

#include "route_milter/core/string_index.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace route_milter {

class ListedAddresses {
public:
    static constexpr std::uint32_t shard_count = 256;
    using Digest = std::array<unsigned char, 32>;
    using ShardSet = std::bitset<shard_count>;

    // The shard of a route with this domain pattern: the top 8 bits of its text's hash as the
    // string index hashes keys (StringIndex::key_hash, libstdc++'s std::hash), stable across
    // reloads and builds. The RCPT path hashes the recipient's domain once for the route lookup
    // and takes its shard from the same hash (shard_of_hash).
    static std::uint32_t shard_of(std::string_view route_pattern) { return shard_of_hash(StringIndex::key_hash(route_pattern)); }
    static std::uint32_t shard_of_hash(std::uint32_t key_hash) { return key_hash >> 24; }
    static_assert(shard_count == 256, "shard_of_hash takes the top 8 bits");

    struct Record {
        std::uint32_t offset = 0;  // into the arena of its route's shard (which holds its length)
        std::uint32_t route = 0;  // index into Config::routes
        std::uint32_t line = 0;
        std::uint32_t file = 0;   // index into Config::files
    };

    ListedAddresses() = default;
    // A copy is a store of its own (value semantics); only keep_shards_of() shares.
    ListedAddresses(const ListedAddresses& other);
    ListedAddresses& operator=(const ListedAddresses& other) {
        if (this != &other) *this = ListedAddresses(other);
        return *this;
    }
    ListedAddresses(ListedAddresses&&) noexcept = default;
    ListedAddresses& operator=(ListedAddresses&&) noexcept = default;

    // The route lists addresses (inline, from a file, or both): it gets its shard and its tag
    // there, in the order routes are placed. Once per route, before its first add(); a route
    // add()ed without it is placed in shard 0 (a hand-made Config).
    void place_route(std::uint32_t route, std::string_view pattern);
    bool placed(std::uint32_t route) const { return route < places_.size() && places_[route] != unplaced; }
    std::uint32_t shard_of_route(std::uint32_t route) const { return places_.at(route) & 0xff; }

    // Room for about `bytes` more address bytes of `route` (an address file's size): reading a
    // big file then neither copies the arena while it grows nor leaves it twice as big as needed.
    void reserve_bytes(std::uint32_t route, std::size_t bytes);
    void add(std::string_view canonical, std::uint32_t route, unsigned line, std::uint32_t file);

    std::size_t record_count() const { return records_.size(); }
    std::span<const Record> records() const { return records_; }
    // One route's records (index() has put them in route order; so has a loader before it).
    std::span<const Record> of_route(std::uint32_t route) const;
    std::string_view text(const Record& r) const {
        return shards_[shard_of_route(r.route)]->index.stored_key(r.offset);
    }

    // Indexes every record of the shards not kept; an address a route lists twice is indexed
    // once and the second record is handed to on_duplicate(record, its route).
    template <typename OnDuplicate>
    void index(OnDuplicate&& on_duplicate) {
        sort_by_route();
        std::vector<std::uint32_t> per_shard(shard_count, 0);
        for (const Record& r : records_) ++per_shard[shard_of_route(r.route)];
        for (std::uint32_t s = 0; s < shard_count; ++s)
            if (shards_[s] && !kept_[s]) {
                shards_[s]->index.reserve(per_shard[s]);
                shards_[s]->listed_counts.assign(shards_[s]->tags, 0);
            }
        for (const Record& r : records_) {
            const std::uint32_t place = places_[r.route];
            Shard& shard = *shards_[place & 0xff];
            if (shard.index.index_stored_pair(r.offset, place >> 8)) ++shard.listed_counts[place >> 8];
            else on_duplicate(r, r.route);
        }
        for (std::uint32_t s = 0; s < shard_count; ++s)
            if (shards_[s] && !kept_[s]) shards_[s]->index.shrink_arena();
        refresh_views();
    }
    void drop_records() { std::vector<Record>().swap(records_); }

    // Whether `route` lists `canonical_address` (after index()).
    bool lists(std::uint32_t route, std::string_view canonical_address) const {
        return lists_at(place_of(route), canonical_address);
    }
    // The same by the route's place (its shard and tag), which the RCPT path keeps at hand.
    std::uint32_t place_of(std::uint32_t route) const { return route < places_.size() ? places_[route] : unplaced; }
    bool lists_at(std::uint32_t place, std::string_view canonical_address) const {
        return lists_at(place, canonical_address, address_hash(canonical_address));
    }
    // The RCPT path in two steps, so that the listed lookup's cache misses overlap the route
    // lookup instead of following it: address_hash and prefetch (by the hash of the recipient's
    // domain, which is the pattern of an exact route, so its shard) before the route is known,
    // then lists_at with the hash.
    static std::uint32_t address_hash(std::string_view canonical_address) {
        return StringIndex::key_hash(canonical_address);
    }
    void prefetch(std::uint32_t domain_hash, std::uint32_t hash) const { views_[shard_of_hash(domain_hash)].prefetch(hash); }
    bool lists_at(std::uint32_t place, std::string_view canonical_address, std::uint32_t hash) const {
        return place != unplaced && views_[place & 0xff].contains_pair(canonical_address, place >> 8, hash);
    }
    // Every address a shard's index holds, with the tag of the route listing it (place_of >> 8).
    template <typename Visit>
    void for_each_in_shard(std::uint32_t shard, Visit&& visit) const {
        if (shards_.at(shard) == nullptr) return;
        shards_[shard]->index.for_each(visit);
    }
    // How many addresses the index holds for `route` (after index()).
    std::uint32_t listed_count(std::uint32_t route) const;
    std::size_t indexed_count() const;
    std::size_t memory_bytes() const;

    // The loader's digest of a shard's inputs, and the count of a route's address file, kept
    // with the shard for the next reload to compare.
    void set_digest(std::uint32_t shard, const Digest& digest);
    bool digest_wanted(std::uint32_t shard) const { return shards_[shard] != nullptr; }
    const Digest* digest(std::uint32_t shard) const;  // nullptr: no such shard, or never digested
    void set_file_count(std::uint32_t route, std::uint32_t count);
    std::uint32_t file_count(std::uint32_t route) const;

    // Shares these shards of `running` (whose digests matched) instead of building them, and
    // drops the records added to them so far. The routes were placed in the same order, so each
    // has the tag it had there.
    void keep_shards_of(const ListedAddresses& running, const ShardSet& shards);
    const ShardSet& kept_shards() const { return kept_; }
    bool kept(std::uint32_t shard) const { return kept_[shard]; }
    std::size_t shards_in_use() const;

private:
    static constexpr std::uint32_t unplaced = UINT32_MAX;
    void sort_by_route();
    struct Shard {
        StringIndex index;  // (address, tag) -> tag
        std::uint32_t tags = 0;  // routes placed here
        std::vector<std::uint32_t> listed_counts;  // per tag, by index()
        std::vector<std::uint32_t> file_counts;    // per tag
        Digest digest{};
        bool digested = false;
    };
    Shard& shard_for(std::uint32_t route);  // placed in shard 0 if it was not
    void place_in(std::uint32_t route, std::uint32_t shard);
    void refresh_views();
    std::vector<std::shared_ptr<Shard>> shards_ = std::vector<std::shared_ptr<Shard>>(shard_count);
    // Each shard's lookup arrays side by side: the RCPT path reads one of these, not the shard.
    std::vector<StringIndex::View> views_ = std::vector<StringIndex::View>(shard_count);
    std::vector<std::uint32_t> places_;  // per route: shard | tag << 8
    std::vector<Record> records_;
    bool in_route_order_ = true;  // inline addresses come first, address files after all of them
    ShardSet kept_;
};

}  // namespace route_milter
