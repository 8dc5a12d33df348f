// password.hpp - hMailServer's stored route passwords, decrypted.
//
// NAME
//   decrypt_password - the plain text of a `Password` attribute (or routeauthenticationpassword).
// SYNOPSIS
//   PasswordResult p = decrypt_password("a62b3c438efae3db");   // p.password == "secret"
// DESCRIPTION
//   hMailServer (Crypt::EnCrypt(..., ETBlowFish), Server/Common/Util/BlowFish.cpp) encrypts
//   with Blowfish in ECB mode under the fixed key "THIS_KEY_IS_NOT_SECRET", the text zero-padded
//   to a multiple of 8 bytes, each 32-bit half of a block taken as a little-endian word, and
//   writes lowercase hex. So: swap the bytes of every 4-byte group, decrypt with standard
//   (big-endian) Blowfish (nettle), swap back, and cut at the first NUL. "" stays "".
// DIAGNOSTICS
//   error (password unset) says what is wrong with the encoding: not hex, a length that is
//   not a whole number of 8-byte blocks; it never contains the text itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace route_milter::hmailserver {

struct PasswordResult {
    std::optional<std::string> password;
    std::string error;
};

PasswordResult decrypt_password(std::string_view hex);

// The other direction, for tests and fixtures: what hMailServer writes for `plain`.
std::string encrypt_password(std::string_view plain);

}  // namespace route_milter::hmailserver
