#include "route_milter/core/string_index.hpp"

#include <functional>
#include <stdexcept>

namespace route_milter {

std::uint32_t StringIndex::hash_of(std::string_view key) {
    const std::size_t h = std::hash<std::string_view>{}(key);
    const auto folded = static_cast<std::uint32_t>(h ^ (h >> 32));
    return folded == 0 ? 1 : folded;
}

// Any number of slots, not a power of two: 1.1 million keys take 1.83 million slots (22 MB),
// not 2^22 (67 MB at the 16 bytes a slot took with the length in it). The slot of a hash is
// its place in [0, slots) by a multiply, not a mask. Load 0.6, not 0.7: a lookup of an
// address that is not listed walks ~3.6 slots on average, not ~6.
std::size_t StringIndex::home(std::uint32_t hash) const { return home_in(hash, slots_.size()); }

void StringIndex::reserve(std::size_t keys) {
    const std::size_t wanted = keys * 5 / 3 + 16;  // load factor <= 0.6
    if (wanted > slots_.size()) grow(wanted);
}

void StringIndex::grow(std::size_t slot_count) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(slot_count, Slot{});
    for (const Slot& s : old) {
        if (s.hash == 0) continue;
        std::size_t i = home(s.hash);
        while (slots_[i].hash != 0) i = next(i);
        slots_[i] = s;
    }
}

std::size_t StringIndex::probe(std::string_view key, std::uint32_t hash) const {
    std::size_t i = home(hash);
    for (; slots_[i].hash != 0; i = next(i))
        if (slots_[i].hash == hash && key_of(slots_[i]) == key) break;
    return i;
}

void StringIndex::make_room() {
    if ((size_ + 1) * 10 > slots_.size() * 7) grow((size_ + 1) * 2 + 16);
}

std::uint32_t StringIndex::store_key(std::string_view key) {
    if (key.size() > 0xffff) throw std::length_error("StringIndex key longer than 65535 bytes");
    if (arena_.size() + 2 + key.size() > UINT32_MAX) throw std::length_error("StringIndex arena full");
    arena_ += static_cast<char>(key.size() & 0xff);
    arena_ += static_cast<char>(key.size() >> 8);
    const auto offset = static_cast<std::uint32_t>(arena_.size());
    arena_.append(key);
    return offset;
}

const std::uint32_t* StringIndex::index_stored(std::uint32_t offset, std::uint32_t length, std::uint32_t value) {
    make_room();
    const std::string_view key = stored_key(offset, length);
    const std::uint32_t h = hash_of(key);
    Slot& slot = slots_[probe(key, h)];
    if (slot.hash != 0) return &slot.value;
    slot = Slot{offset, value, h};
    ++size_;
    return nullptr;
}

const std::uint32_t* StringIndex::insert(std::string_view key, std::uint32_t value) {
    if (const std::uint32_t* existing = find(key)) return existing;
    return index_stored(store_key(key), static_cast<std::uint32_t>(key.size()), value);
}

const std::uint32_t* StringIndex::find(std::string_view key) const {
    if (slots_.empty()) return nullptr;
    const Slot& slot = slots_[probe(key, hash_of(key))];
    return slot.hash != 0 ? &slot.value : nullptr;
}

}  // namespace route_milter
