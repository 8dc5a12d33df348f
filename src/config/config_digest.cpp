// config_digest.cpp - sha256 of the configuration files, through libcrypto.
#include "route_milter/config/config_digest.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace route_milter {

Sha256 sha256_of(std::string_view bytes) {
    Sha256 out{};
    unsigned int size = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 || size != out.size())
        throw std::runtime_error("sha256: libcrypto failed");
    return out;
}

Sha256Stream::Sha256Stream() : md_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) {
    if (!md_ || EVP_DigestInit_ex(md_.get(), EVP_sha256(), nullptr) != 1) throw std::runtime_error("sha256: libcrypto failed");
}

void Sha256Stream::update(std::string_view bytes) {
    if (EVP_DigestUpdate(md_.get(), bytes.data(), bytes.size()) != 1) throw std::runtime_error("sha256: libcrypto failed");
}

Sha256 Sha256Stream::finish() {
    Sha256 out{};
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(md_.get(), out.data(), &size) != 1 || size != out.size())
        throw std::runtime_error("sha256: libcrypto failed");
    return out;
}

std::string config_digest(std::span<const Sha256> files) {
    std::string joined;
    joined.reserve(files.size() * 32);
    for (const Sha256& f : files) joined.append(reinterpret_cast<const char*>(f.data()), f.size());
    const auto digest = sha256_of(joined);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (const unsigned char c : digest) {
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

}  // namespace route_milter
