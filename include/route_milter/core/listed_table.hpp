// listed_table.hpp - a keyed table whose lines are mostly listed addresses, streamed in key order.
//
// NAME
//   ListedKeys - the listed-address keys of one table (Postfix relay_recipients, Sendmail's
//   access map), as references into the compact store; table_file - that table as a RenderedFile.
// SYNOPSIS
//   ListedKeys keys(config.listed, "To:");   // every key is "To:" + an address
//   keys.add(record);                        // key: the address as stored
//   keys.add(record, "bücher.test");         // key: its local part, '@', this domain spelling
//   keys.sort();                             // once, after the last add
//   keys.contains("To:a@b.test");           // the other keys' conflict checks
//   table_file("access", header, other_lines, std::move(keys), "RELAY", 0644, true);
//                                            // other_lines: key -> value, a key given twice
//                                            // keeps the first
// DESCRIPTION
//   A million addresses in a table must not be copied into a std::map and a std::string: a key
//   here is 8 bytes (the record, and which domain spelling), its text stays in the store. The
//   other lines of the table (few: "@domain", "To:domain" entries) come as key -> value pairs;
//   table_file sorts them and merges both in std::string order, so the bytes are those of one sorted
//   map of all of them. A key that is both (or listed twice) is written once, the other line's.
//   The file reads the ListedAddresses it was built from whenever it generates: keep it alive.
#pragma once

#include "route_milter/core/listed_addresses.hpp"
#include "route_milter/core/rendered_file.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace route_milter {

class ListedKeys {
public:
    ListedKeys(const ListedAddresses& listed, std::string prefix) : listed_(&listed), prefix_(std::move(prefix)) {}

    void add(const ListedAddresses::Record& record) { keys_.push_back({index_of(record), 0}); }
    // The address with its domain spelled `domain` (the U-label form of an IDN domain).
    void add(const ListedAddresses::Record& record, std::string_view domain);
    void sort();

    bool contains(std::string_view key) const;  // after sort()
    std::size_t size() const { return keys_.size(); }

    // The key's text after the prefix, in (at most) two pieces.
    struct Pieces {
        std::string_view first, second;
    };
    struct Key {
        std::uint32_t record;
        std::uint32_t spelling;  // 0: the address as stored; else spellings_[spelling - 1] is its domain
    };
    Pieces pieces(Key key) const;
    const std::vector<Key>& keys() const { return keys_; }
    const std::string& prefix() const { return prefix_; }

private:
    std::uint32_t index_of(const ListedAddresses::Record& record) const {
        return static_cast<std::uint32_t>(&record - listed_->records().data());
    }
    const ListedAddresses* listed_;
    std::string prefix_;
    std::vector<Key> keys_;
    std::vector<std::string> spellings_;
    std::map<std::string, std::uint32_t, std::less<>> spelling_ids_;
};

// A table file: `header`, then the lines "KEY\tVALUE\n" of `other_lines` and of the listed keys
// (each with `listed_value`), merged in key order. Generated on demand.
RenderedFile table_file(std::string name, std::string header, std::vector<std::pair<std::string, std::string>> other_lines,
                        ListedKeys listed, std::string listed_value, unsigned mode, bool compile_map);

}  // namespace route_milter
