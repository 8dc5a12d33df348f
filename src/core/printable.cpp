// printable.cpp - control characters found, escaped or blanked.
#include "route_milter/core/printable.hpp"

#include <cstdint>

namespace route_milter {
namespace {

// The character at `at`: how many bytes it takes (0: not a well-formed UTF-8 sequence, take
// the byte alone) and whether it is one printable() escapes.
struct Character {
    std::size_t size;
    bool control;
};

Character character_at(std::string_view s, std::size_t at) {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const unsigned char c = byte(at);
    if (c < 0x80) return {1, c < 0x20 || c == 0x7f};
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1fu;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0fu;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07u;
    else return {0, true};
    if (at + n > s.size()) return {0, true};
    for (std::size_t i = 1; i < n; ++i) {
        if ((byte(at + i) & 0xc0) != 0x80) return {0, true};
        cp = (cp << 6) | (byte(at + i) & 0x3fu);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return {0, true};
    return {n, (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || cp == 0x200e ||
                   cp == 0x200f || (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069)};
}

}  // namespace

std::optional<std::size_t> find_control(std::string_view text) {
    for (std::size_t at = 0; at < text.size();) {
        const Character ch = character_at(text, at);
        if (ch.size == 0) {  // not UTF-8: a byte, shown escaped but no control
            ++at;
            continue;
        }
        if (ch.control) return at;
        at += ch.size;
    }
    return std::nullopt;
}

std::string printable(std::string_view text, std::size_t max) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    std::size_t at = 0;
    while (at < text.size()) {
        const Character ch = character_at(text, at);
        const std::size_t size = ch.size == 0 ? 1 : ch.size;
        if (at + size > max) break;
        if (ch.control) {
            for (std::size_t i = 0; i < size; ++i) {
                const auto c = static_cast<unsigned char>(text[at + i]);
                out += {'\\', 'x', hex[c >> 4], hex[c & 15]};
            }
        } else {
            out.append(text.substr(at, size));
        }
        at += size;
    }
    if (at < text.size()) out += "...";
    return out;
}

std::string without_controls(std::string_view text) {
    std::string out;
    for (std::size_t at = 0; at < text.size();) {
        const Character ch = character_at(text, at);
        const std::size_t size = ch.size == 0 ? 1 : ch.size;
        if (ch.control && ch.size != 0) out += ' ';
        else out.append(text.substr(at, size));
        at += size;
    }
    return out;
}

}  // namespace route_milter
