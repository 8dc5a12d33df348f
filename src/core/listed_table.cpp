#include "route_milter/core/listed_table.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace route_milter {
namespace {

// Compares the concatenations of two lists of pieces as std::string does (bytes as unsigned
// char), without building either.
template <std::size_t N, std::size_t M>
int compare_joined(const std::array<std::string_view, N>& a, const std::array<std::string_view, M>& b) {
    std::size_t i = 0, j = 0;
    std::string_view x = a[0], y = b[0];
    for (;;) {
        while (x.empty() && ++i < N) x = a[i];
        while (y.empty() && ++j < M) y = b[j];
        if (x.empty() || y.empty()) return x.empty() ? (y.empty() ? 0 : -1) : 1;
        const std::size_t n = std::min(x.size(), y.size());
        if (const int c = std::memcmp(x.data(), y.data(), n); c != 0) return c;
        x.remove_prefix(n);
        y.remove_prefix(n);
    }
}

// Lines leave in chunks of about this size: few sink calls, little memory.
constexpr std::size_t chunk_bytes = 64 * 1024;

struct TableContent {
    std::string header;
    std::vector<std::pair<std::string, std::string>> other_lines;
    ListedKeys listed;
    std::string listed_value;

    bool generate(const ChunkSink& sink) const {
        std::string buffer = header;
        buffer.reserve(chunk_bytes + 1024);
        const auto flush_if_full = [&]() {
            if (buffer.size() < chunk_bytes) return true;
            const bool more = sink(buffer);
            buffer.clear();
            return more;
        };
        const std::string_view prefix = listed.prefix();
        const auto& keys = listed.keys();
        std::size_t o = 0, k = 0;
        // The last listed key written: a listed key equal to it (or to an other line) is skipped.
        std::array<std::string_view, 3> last{};
        bool have_last = false;
        while (o < other_lines.size() || k < keys.size()) {
            std::array<std::string_view, 3> next{};
            if (k < keys.size()) {
                const ListedKeys::Pieces p = listed.pieces(keys[k]);
                next = {prefix, p.first, p.second};
            }
            const bool other_first =
                o < other_lines.size() &&
                (k == keys.size() || compare_joined(std::array<std::string_view, 1>{other_lines[o].first}, next) <= 0);
            if (other_first) {
                const auto& [key, value] = other_lines[o++];
                if (k < keys.size() && compare_joined(std::array<std::string_view, 1>{key}, next) == 0) {
                    ++k;
                    last = next;  // its duplicates are skipped too
                    have_last = true;
                }
                buffer.append(key).append(1, '\t').append(value).append(1, '\n');
            } else {
                ++k;
                if (have_last && compare_joined(last, next) == 0) continue;
                for (const std::string_view piece : next) buffer.append(piece);
                buffer.append(1, '\t').append(listed_value).append(1, '\n');
                last = next;
                have_last = true;
            }
            if (!flush_if_full()) return false;
        }
        return buffer.empty() || sink(buffer);
    }
};

}  // namespace

void ListedKeys::add(const ListedAddresses::Record& record, std::string_view domain) {
    auto found = spelling_ids_.find(domain);
    if (found == spelling_ids_.end()) {
        spellings_.emplace_back(domain);
        found = spelling_ids_.emplace(std::string(domain), static_cast<std::uint32_t>(spellings_.size())).first;
    }
    keys_.push_back({index_of(record), found->second});
}

ListedKeys::Pieces ListedKeys::pieces(Key key) const {
    const std::string_view address = listed_->text(listed_->records()[key.record]);
    if (key.spelling == 0) return {address, {}};
    return {address.substr(0, address.rfind('@') + 1), spellings_[key.spelling - 1]};
}

void ListedKeys::sort() {
    // Each key's first 16 bytes (big-endian, zero-padded) beside it: most comparisons end there,
    // in the array, instead of reading two addresses scattered through the store (a million
    // keys: a second of cache misses). Equal prefixes fall back to the whole text.
    struct Sortable {
        std::uint64_t high, low;
        Key key;
    };
    std::vector<Sortable> sortable;
    sortable.reserve(keys_.size());
    for (const Key key : keys_) {
        const Pieces p = pieces(key);
        unsigned char bytes[16] = {};
        const std::size_t first = p.first.copy(reinterpret_cast<char*>(bytes), sizeof bytes);
        p.second.copy(reinterpret_cast<char*>(bytes) + first, sizeof bytes - first);
        std::uint64_t high = 0, low = 0;
        for (std::size_t i = 0; i < 8; ++i) {
            high = high << 8 | bytes[i];
            low = low << 8 | bytes[8 + i];
        }
        sortable.push_back({high, low, key});
    }
    std::sort(sortable.begin(), sortable.end(), [this](const Sortable& a, const Sortable& b) {
        if (a.high != b.high) return a.high < b.high;
        if (a.low != b.low) return a.low < b.low;
        const Pieces x = pieces(a.key), y = pieces(b.key);
        return compare_joined(std::array{x.first, x.second}, std::array{y.first, y.second}) < 0;
    });
    for (std::size_t i = 0; i < keys_.size(); ++i) keys_[i] = sortable[i].key;
}

bool ListedKeys::contains(std::string_view key) const {
    if (key.substr(0, prefix_.size()) != prefix_) return false;
    const std::array<std::string_view, 1> wanted{key.substr(prefix_.size())};
    const auto it = std::lower_bound(keys_.begin(), keys_.end(), wanted, [this](Key k, const auto& w) {
        const Pieces p = pieces(k);
        return compare_joined(std::array{p.first, p.second}, w) < 0;
    });
    if (it == keys_.end()) return false;
    const Pieces p = pieces(*it);
    return compare_joined(std::array{p.first, p.second}, wanted) == 0;
}

RenderedFile table_file(std::string name, std::string header, std::vector<std::pair<std::string, std::string>> other_lines,
                        ListedKeys listed, std::string listed_value, unsigned mode, bool compile_map) {
    // Mostly they come sorted from a std::map already; a key given twice keeps its first value.
    const auto by_key = [](const auto& a, const auto& b) { return a.first < b.first; };
    std::stable_sort(other_lines.begin(), other_lines.end(), by_key);
    other_lines.erase(std::unique(other_lines.begin(), other_lines.end(),
                                  [](const auto& a, const auto& b) { return a.first == b.first; }),
                      other_lines.end());
    auto content = std::make_shared<const TableContent>(
        TableContent{std::move(header), std::move(other_lines), std::move(listed), std::move(listed_value)});
    RenderedFile file{std::move(name), {}, mode, compile_map, {}};
    file.generate = [content](const ChunkSink& sink) { return content->generate(sink); };
    return file;
}

}  // namespace route_milter
