// listed_addresses.hpp - every address a config lists, in one arena, and the index over them.
//
// NAME
//   ListedAddresses - the compact store of a config's listed addresses (inline `addresses` and
//   `addresses_file` alike).
// SYNOPSIS
//   listed.add("alice@example.com", route, line, file);  // route by route, canonical form
//   listed.index(on_duplicate);                          // once, by compile_policy
//   listed.route_of("alice@example.com");                // the RCPT path: no allocation
// DESCRIPTION
//   A million addresses must not cost a million std::strings: their bytes go into one arena,
//   each with a 20-byte record (route, and the file:line it came from for diagnostics and
//   routectl's maps). index() hashes the arena's keys in place (16-byte slots). drop_records()
//   frees the records once nothing needs the lines any more (the daemon); what stays is the
//   arena and the slots. index() puts the records in route order (stable), so one route's
//   addresses are a range and a duplicate is reported against the route listed first.
//   The arena and the slots are shared by the copies a reload makes with keep_index_of(): a
//   SIGHUP whose address files are byte for byte the ones the running policy was built from
//   (and the routes that list them the same) keeps their index instead of building a second
//   one beside it. What they were built from (the Provenance) is kept with them to tell.
#pragma once

#include "route_milter/core/string_index.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace route_milter {

class ListedAddresses {
public:
    // What an index was built from: a digest of everything besides the address files that
    // decides what it holds (the routes, their inline addresses, the files' names), and each
    // address file's sha256 and address count, in the order read.
    struct SourceFileFacts {
        std::array<unsigned char, 32> sha256{};
        std::size_t count = 0;
    };
    struct Provenance {
        std::array<unsigned char, 32> routes{};
        std::vector<SourceFileFacts> files;
    };

    ListedAddresses() = default;
    // A copy is a store of its own (value semantics); only keep_index_of() shares.
    ListedAddresses(const ListedAddresses& other)
        : body_(std::make_shared<Body>(*other.body_)), records_(other.records_), in_route_order_(other.in_route_order_),
          kept_(other.kept_) {}
    ListedAddresses& operator=(const ListedAddresses& other) {
        if (this != &other) *this = ListedAddresses(other);
        return *this;
    }
    ListedAddresses(ListedAddresses&&) noexcept = default;
    ListedAddresses& operator=(ListedAddresses&&) noexcept = default;
    struct Record {
        std::uint32_t offset = 0;  // into the arena
        std::uint32_t length = 0;
        std::uint32_t route = 0;  // index into Config::routes
        std::uint32_t line = 0;
        std::uint32_t file = 0;   // index into Config::files
    };

    // Room for about `bytes` more address bytes (an address file's size): reading a big file
    // then neither copies the arena while it grows nor leaves it twice as big as needed.
    void reserve_bytes(std::size_t bytes);
    void add(std::string_view canonical, std::uint32_t route, unsigned line, std::uint32_t file);
    // Drops records from `count` on (what the loader added for a route it then refused).
    void truncate(std::size_t count);

    std::size_t record_count() const { return records_.size(); }
    std::span<const Record> records() const { return records_; }
    // One route's records (index() has put them in route order).
    std::span<const Record> of_route(std::uint32_t route) const;
    std::string_view text(const Record& r) const { return body_->index.stored_key(r.offset, r.length); }

    // Indexes every record; a duplicate address is not indexed again and is handed to
    // on_duplicate(record, route that listed it first).
    template <typename OnDuplicate>
    void index(OnDuplicate&& on_duplicate) {
        sort_by_route();  // duplicates are then reported against the first route, in config order
        body_->index.reserve(records_.size());
        for (const Record& r : records_)
            if (const std::uint32_t* first = body_->index.index_stored(r.offset, r.length, r.route))
                on_duplicate(r, *first);
    }
    void drop_records() { std::vector<Record>().swap(records_); }

    // The route that lists `canonical_address`, or nullptr.
    const std::uint32_t* route_of(std::string_view canonical_address) const {
        return body_->index.find(canonical_address);
    }
    std::size_t indexed_count() const { return body_->index.size(); }
    std::size_t memory_bytes() const { return body_->index.memory_bytes() + records_.capacity() * sizeof(Record); }

    void set_provenance(Provenance p) { body_->provenance = std::move(p); }
    const Provenance& provenance() const { return body_->provenance; }
    // Per route, how many addresses the index holds for it (compile_policy sets it).
    void set_route_counts(std::vector<std::uint32_t> counts) { body_->route_counts = std::move(counts); }
    const std::vector<std::uint32_t>& route_counts() const { return body_->route_counts; }
    // Shares `running`'s index (and provenance, and counts) instead of building one; drops the
    // records added so far (the inline addresses, which that index holds already).
    void keep_index_of(const ListedAddresses& running) {
        body_ = running.body_;
        drop_records();
        kept_ = true;
    }
    bool kept() const { return kept_; }  // by keep_index_of(): indexed and checked already

private:
    void sort_by_route();
    struct Body {
        StringIndex index;
        Provenance provenance;
        std::vector<std::uint32_t> route_counts;
    };
    std::shared_ptr<Body> body_ = std::make_shared<Body>();
    std::vector<Record> records_;
    bool in_route_order_ = true;  // inline addresses come first, address files after all of them
    bool kept_ = false;
};

}  // namespace route_milter
