#include "route_milter/core/string_index.hpp"

#include <bit>
#include <functional>
#include <stdexcept>

namespace route_milter {

std::uint32_t StringIndex::hash_of(std::string_view key) {
    const std::size_t h = std::hash<std::string_view>{}(key);
    const auto folded = static_cast<std::uint32_t>(h ^ (h >> 32));
    return folded == 0 ? 1 : folded;
}

void StringIndex::reserve(std::size_t keys) {
    const std::size_t wanted = std::bit_ceil(keys * 10 / 7 + 16);  // load factor <= 0.7
    if (wanted > slots_.size()) grow(wanted);
}

void StringIndex::grow(std::size_t slot_count) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(slot_count, Slot{});
    const std::size_t mask = slot_count - 1;
    for (const Slot& s : old) {
        if (s.hash == 0) continue;
        std::size_t i = s.hash & mask;
        while (slots_[i].hash != 0) i = (i + 1) & mask;
        slots_[i] = s;
    }
}

std::size_t StringIndex::probe(std::string_view key, std::uint32_t hash) const {
    const std::size_t mask = slots_.size() - 1;
    std::size_t i = hash & mask;
    for (; slots_[i].hash != 0; i = (i + 1) & mask)
        if (slots_[i].hash == hash && key_of(slots_[i]) == key) break;
    return i;
}

std::uint32_t StringIndex::store_key(std::string_view key) {
    if (arena_.size() + key.size() > UINT32_MAX) throw std::length_error("StringIndex arena full");
    const auto offset = static_cast<std::uint32_t>(arena_.size());
    arena_.append(key);
    return offset;
}

const std::uint32_t* StringIndex::index_stored(std::uint32_t offset, std::uint32_t length, std::uint32_t value) {
    if ((size_ + 1) * 10 > slots_.size() * 7) grow(std::bit_ceil((size_ + 1) * 2 + 16));
    const std::string_view key = stored_key(offset, length);
    const std::uint32_t h = hash_of(key);
    Slot& slot = slots_[probe(key, h)];
    if (slot.hash != 0) return &slot.value;
    slot = Slot{offset, length, value, h};
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
