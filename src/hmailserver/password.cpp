// password.cpp - hMailServer's Blowfish route passwords (nettle's Blowfish; hMailServer's byte order).
#include "route_milter/hmailserver/password.hpp"

#include <nettle/blowfish.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace route_milter::hmailserver {
namespace {

constexpr std::string_view key = "THIS_KEY_IS_NOT_SECRET";

blowfish_ctx keyed() {
    blowfish_ctx ctx;
    if (blowfish_set_key(&ctx, key.size(), reinterpret_cast<const std::uint8_t*>(key.data())) == 0)
        throw std::logic_error("hMailServer's Blowfish key refused as weak");  // it is not: a bug
    return ctx;
}

// hMailServer loads each 32-bit half as a little-endian word; nettle reads big-endian.
void swap_words(std::vector<std::uint8_t>& bytes) {
    for (std::size_t i = 0; i + 4 <= bytes.size(); i += 4) std::reverse(bytes.begin() + i, bytes.begin() + i + 4);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

PasswordResult decrypt_password(std::string_view hex) {
    PasswordResult result;
    if (hex.empty()) {
        result.password = std::string();
        return result;
    }
    if (hex.size() % 16 != 0) {
        result.error = "encrypted password is " + std::to_string(hex.size()) +
                       " hex digits, not a whole number of 8-byte Blowfish blocks (16 digits each)";
        return result;
    }
    std::vector<std::uint8_t> bytes(hex.size() / 2);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        const int high = hex_value(hex[2 * i]), low = hex_value(hex[2 * i + 1]);
        if (high < 0 || low < 0) {
            result.error = "encrypted password is not hexadecimal (a character at position " + std::to_string(2 * i + 1) +
                           " is not 0-9 or a-f)";
            return result;
        }
        bytes[i] = static_cast<std::uint8_t>(high << 4 | low);
    }
    const blowfish_ctx ctx = keyed();
    swap_words(bytes);
    blowfish_decrypt(&ctx, bytes.size(), bytes.data(), bytes.data());
    swap_words(bytes);
    const auto end = std::find(bytes.begin(), bytes.end(), std::uint8_t{0});
    result.password = std::string(bytes.begin(), end);
    return result;
}

std::string encrypt_password(std::string_view plain) {
    if (plain.empty()) return {};
    std::vector<std::uint8_t> bytes(plain.begin(), plain.end());
    bytes.resize((bytes.size() + 7) / 8 * 8, 0);
    const blowfish_ctx ctx = keyed();
    swap_words(bytes);
    blowfish_encrypt(&ctx, bytes.size(), bytes.data(), bytes.data());
    swap_words(bytes);
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (std::uint8_t b : bytes) {
        hex += digits[b >> 4];
        hex += digits[b & 15];
    }
    return hex;
}

}  // namespace route_milter::hmailserver
