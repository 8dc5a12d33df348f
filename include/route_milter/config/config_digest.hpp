// config_digest.hpp - the identity of a configuration: sha256 of the files it was read from.
//
// NAME
//   sha256_of, config_digest - what "do all MX hosts run the same rules" compares.
// SYNOPSIS
//   file.sha256 = sha256_of(text);          // each file as read (config_source.cpp)
//   Sha256Stream s; s.update(chunk); ...; file.sha256 = s.finish();   // address files
//   config.digest = config_digest(each_file_sha256);   // "3f1c...": 64 lowercase hex digits
// DESCRIPTION
//   config_digest is sha256 over the sha256 of each file read, in the order met (the main file,
//   then each @include where it is expanded, address files included). File names are left out:
//   the same files under other paths (route-milter -c elsewhere) give the same digest; a change
//   of one byte in any file, or of the include order, gives another. sha256 is libcrypto's
//   (OpenSSL), not hand-written.
// DIAGNOSTICS
//   None: libcrypto failing to hash is a programming error (std::runtime_error).
#pragma once

#include <array>
#include <memory>
#include <span>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace route_milter {

using Sha256 = std::array<unsigned char, 32>;

Sha256 sha256_of(std::string_view bytes);

// The same, fed piece by piece (an address file is streamed, never held whole).
class Sha256Stream {
public:
    Sha256Stream();
    void update(std::string_view bytes);
    Sha256 finish();

private:
    std::unique_ptr<evp_md_ctx_st, void (*)(evp_md_ctx_st*)> md_;  // libcrypto's EVP_MD_CTX
};

// Of each file's sha256, in the order the files were read.
std::string config_digest(std::span<const Sha256> files);

}  // namespace route_milter
