// listed_addresses.hpp - every address a config lists, as the loader read them.
//
// NAME
//   ListedAddresses - the compact store of a config's listed addresses (inline `addresses` and
//   `addresses_file` alike), each with its route and the file:line it came from.
// SYNOPSIS
//   listed.add("alice@example.com", route, line, file);  // the loader, canonical form
//   listed.index(on_duplicate);                          // the compiler, once
//   listed.find("alice@example.com");                    // its record, after index()
// DESCRIPTION
//   A million addresses must not cost a million std::strings: their bytes go into one arena,
//   each with a 16-byte record. index() orders the records by route and hashes each address
//   once: a listed address belongs to the route that owns its domain, so an address listed
//   twice (by one route or two) is an error the compiler reports from the second record. The
//   daemon never holds this store: it maps the compiled image.
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
        std::uint32_t offset = 0;  // into the arena (which holds its length)
        std::uint32_t route = 0;   // index into Config::routes
        std::uint32_t line = 0;
        std::uint32_t file = 0;    // index into Config::files
    };

    // Room for about `bytes` more address bytes (an address file's size): reading a big file
    // then neither copies the arena while it grows nor leaves it twice as big as needed.
    void reserve_bytes(std::size_t bytes);
    void add(std::string_view canonical, std::uint32_t route, unsigned line, std::uint32_t file);

    std::size_t record_count() const { return records_.size(); }
    std::span<const Record> records() const { return records_; }
    // One route's records (index() puts them in route order; so does a loader before it).
    std::span<const Record> of_route(std::uint32_t route) const;
    std::string_view text(const Record& r) const { return addresses_.stored_key(r.offset); }

    // Orders the records by route and indexes each address; the second record of an address
    // is handed to on_duplicate(record, the first record).
    template <typename OnDuplicate>
    void index(OnDuplicate&& on_duplicate) {
        sort_by_route();
        addresses_.reserve(records_.size());
        for (std::uint32_t i = 0; i < records_.size(); ++i) {
            const Record& r = records_[i];
            if (const std::uint32_t* first = addresses_.index_stored(r.offset, static_cast<std::uint32_t>(text(r).size()), i))
                on_duplicate(r, records_[*first]);
        }
        addresses_.shrink_arena();
        indexed_ = true;
    }
    bool indexed() const { return indexed_; }
    // The record listing this canonical address (after index()), or nullptr.
    const Record* find(std::string_view canonical) const {
        const std::uint32_t* i = addresses_.find(canonical);
        return i != nullptr ? &records_[*i] : nullptr;
    }
    std::size_t memory_bytes() const { return addresses_.memory_bytes() + records_.capacity() * sizeof(Record); }

private:
    void sort_by_route();
    StringIndex addresses_;  // address -> its first record (after index())
    std::vector<Record> records_;
    bool in_route_order_ = true;  // inline addresses come first, address files after all of them
    bool indexed_ = false;
};

}  // namespace route_milter
