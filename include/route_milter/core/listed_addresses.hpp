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
#pragma once

#include "route_milter/core/string_index.hpp"

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace route_milter {

class ListedAddresses {
public:
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
    std::string_view text(const Record& r) const { return index_.stored_key(r.offset, r.length); }

    // Indexes every record; a duplicate address is not indexed again and is handed to
    // on_duplicate(record, route that listed it first).
    template <typename OnDuplicate>
    void index(OnDuplicate&& on_duplicate) {
        sort_by_route();  // duplicates are then reported against the first route, in config order
        index_.reserve(records_.size());
        for (const Record& r : records_)
            if (const std::uint32_t* first = index_.index_stored(r.offset, r.length, r.route)) on_duplicate(r, *first);
    }
    void drop_records() { std::vector<Record>().swap(records_); }

    // The route that lists `canonical_address`, or nullptr.
    const std::uint32_t* route_of(std::string_view canonical_address) const { return index_.find(canonical_address); }
    std::size_t indexed_count() const { return index_.size(); }
    std::size_t memory_bytes() const { return index_.memory_bytes() + records_.capacity() * sizeof(Record); }

private:
    void sort_by_route();
    StringIndex index_;
    std::vector<Record> records_;
    bool in_route_order_ = true;  // inline addresses come first, address files after all of them
};

}  // namespace route_milter
