// string_index.hpp - a compact hash index from strings to 32-bit values.
//
// Built once (by the compiler, or for a policy's local domains), then only read: lookups take a
// string_view and neither allocate nor lock. Keys live in one arena, each after its 2-byte length; a slot is
// 12 bytes (offset, value, hash), so a million listed addresses cost tens of megabytes, not
// hundreds. Keys are at most 65,535 bytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace route_milter {

class StringIndex {
public:
    StringIndex() = default;

    void reserve(std::size_t keys);

    // Adds key -> value; when the key is already present, leaves it and returns its value.
    // Returns nullptr when the key was new.
    const std::uint32_t* insert(std::string_view key, std::uint32_t value);

    const std::uint32_t* find(std::string_view key) const;

    // Two steps for keys that are stored before they are indexed (ListedAddresses): store_key
    // appends a key to the arena only and returns its offset; index_stored then indexes it,
    // with insert's answer. reserve_arena makes room for that many more key bytes.
    std::uint32_t store_key(std::string_view key);
    const std::uint32_t* index_stored(std::uint32_t offset, std::uint32_t length, std::uint32_t value);
    void reserve_arena(std::size_t more_bytes) { arena_.reserve(arena_.size() + more_bytes); }
    void shrink_arena() { arena_.shrink_to_fit(); }  // once every key is stored

    std::string_view stored_key(std::uint32_t offset, std::uint32_t length) const {
        return std::string_view(arena_).substr(offset, length);
    }
    // A key store_key stored, by its offset alone: its length is in the two bytes before it.
    std::string_view stored_key(std::uint32_t offset) const {
        const auto* at = reinterpret_cast<const unsigned char*>(arena_.data()) + offset;
        return std::string_view(arena_.data() + offset, static_cast<std::size_t>(at[-2] | (at[-1] << 8)));
    }

    std::size_t size() const { return size_; }
    std::size_t memory_bytes() const { return arena_.capacity() + slots_.capacity() * sizeof(Slot); }

private:
    struct Slot {
        std::uint32_t offset = 0;  // of the key's bytes; its length is in the 2 bytes before
        std::uint32_t value = 0;
        std::uint32_t hash = 0;  // 0 marks an empty slot
    };
    static std::uint32_t hash_of(std::string_view key);
    static std::size_t home_in(std::uint32_t hash, std::size_t slot_count) {
        return static_cast<std::size_t>((static_cast<std::uint64_t>(hash) * slot_count) >> 32);
    }
    std::string_view key_of(const Slot& s) const {
        const auto* at = reinterpret_cast<const unsigned char*>(arena_.data()) + s.offset;
        const std::size_t length = static_cast<std::size_t>(at[-2]) | (static_cast<std::size_t>(at[-1]) << 8);
        return std::string_view(arena_.data() + s.offset, length);
    }
    void grow(std::size_t slot_count);
    std::size_t home(std::uint32_t hash) const;
    std::size_t next(std::size_t i) const { return i + 1 == slots_.size() ? 0 : i + 1; }
    // The slot holding `key`, or the empty slot where it would go.
    std::size_t probe(std::string_view key, std::uint32_t hash) const;
    void make_room();

    std::string arena_;
    std::vector<Slot> slots_;
    std::size_t size_ = 0;
};

}  // namespace route_milter
