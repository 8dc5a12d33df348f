// config_digest.hpp - the identity of a configuration: sha256 of the files it was read from.
//
// NAME
//   sha256_of, config_digest - what "do all MX hosts run the same rules" compares.
// SYNOPSIS
//   file.sha256 = sha256_of(text);          // each file as read (config_source.cpp)
//   config.digest = config_digest(files);   // "3f1c...": 64 lowercase hex digits
// DESCRIPTION
//   config_digest is sha256 over the sha256 of each file read, in the order met (the main file,
//   then each @include where it is expanded, address files included). File names are left out:
//   the same files under other paths (route-milter -c elsewhere) give the same digest; a change
//   of one byte in any file, or of the include order, gives another. sha256 is libcrypto's
//   (OpenSSL), not hand-written.
// DIAGNOSTICS
//   None: libcrypto failing to hash is a programming error (std::runtime_error).
#pragma once

#include "route_milter/config/config_source.hpp"

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace route_milter {

std::array<unsigned char, 32> sha256_of(std::string_view bytes);

std::string config_digest(const std::vector<SourceFile>& files);

}  // namespace route_milter
