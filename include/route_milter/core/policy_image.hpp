// policy_image.hpp - what the compiled policy image holds, record by record. No I/O.
//
// NAME
//   image::Header, image::RouteRecord - the image's parts; encode_* / decode_* - their bytes.
// DESCRIPTION
//   The image is one constant database (tinycdb's format, as Postfix's cdb: tables), written
//   once by `routectl compile` and mapped read-only by the daemon (Policy::open). Its records:
//     "\0header"    format version, the config's path and digest, each source file as read
//                   (SourceFile), the counts, the length and checksum of the three below,
//                   and its own checksum
//     "\0settings"  milter and metrics settings, scope, mode, local_domains, IP ranges
//     "\0routes"    one 24-byte RouteRecord a route, in config order
//     "\0patterns"  the routes' domain patterns, end to end
//     "example.com"   -> the exact route of that domain (4 bytes, little-endian index)
//     ".example.com"  -> the route "*.example.com"
//     "a@example.com" -> the route listing that address (the route that owns its domain)
//   No domain, suffix or address starts with NUL, and only addresses hold '@': the keys
//   cannot meet. The header's checksums cover every record but the lookups, which the
//   database's own bounds checks guard (Policy::open, policy.hpp). Integers are
//   little-endian; every decode checks every length against what is there.
#pragma once

#include "route_milter/core/config.hpp"
#include "route_milter/core/source_file.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace route_milter::image {

inline constexpr std::uint32_t format_version = 1;
inline constexpr std::string_view magic = "route-milter policy image";

inline constexpr std::string_view header_key{"\0header", 7};
inline constexpr std::string_view settings_key{"\0settings", 9};
inline constexpr std::string_view routes_key{"\0routes", 7};
inline constexpr std::string_view patterns_key{"\0patterns", 9};

using Bytes = std::span<const unsigned char>;

// FNV-1a, 64 bits: finds damage, not forgery (whoever can write the image owns the policy).
std::uint64_t checksum(Bytes bytes);

struct Source {
    std::string path;  // as opened
    SourceFile file;
};

struct Section {
    std::uint64_t length = 0;
    std::uint64_t checksum = 0;
    friend bool operator==(const Section&, const Section&) = default;
};

struct Header {
    std::uint32_t version = format_version;
    std::string config_path;  // absolute
    std::string digest;       // Config::digest
    // What encode_header writes. decode_header leaves it empty and points sources_record at the
    // encoded list instead (for_each_source reads it): ten thousand address files do not cost
    // the daemon ten thousand strings.
    std::vector<Source> sources;
    std::uint32_t source_count = 0;
    Bytes sources_record;
    std::uint32_t route_count = 0;
    std::uint64_t listed_count = 0;
    Section settings, routes, patterns;
};

struct RouteRecord {
    static constexpr std::size_t size = 24;
    std::uint32_t pattern_offset = 0;  // into "\0patterns"
    std::uint16_t pattern_length = 0;
    RoutePattern::Kind kind = RoutePattern::Kind::none;
    DeliverTo deliver_to = DeliverTo::all;
    std::uint32_t line = 0;
    std::uint32_t file = 0;  // index into Config::files of the compiled config
    std::uint32_t listed_count = 0;
    AddressClass treat_recipient_as = AddressClass::external;
    AddressClass treat_sender_as = AddressClass::external;
    std::optional<Mode> mode;  // unset: the top-level mode
};

std::string encode_header(const Header& header);
// nullopt and `why` when the bytes are not a header this build reads (every source checked).
// The header refers to `bytes` (sources_record): keep them.
std::optional<Header> decode_header(Bytes bytes, std::string& why);
// Calls visit(path, file) for each source of a decoded header, in order, while it returns true.
void for_each_source(const Header& header, const std::function<bool(std::string_view, const SourceFile&)>& visit);

// The settings record: everything of a Config but its routes and listed addresses (and the
// files beyond the config files).
std::string encode_settings(const Config& config);
bool decode_settings(Bytes bytes, Config& out, std::string& why);

// The routes record and the patterns record, with each route's count of listed addresses.
void encode_routes(const Config& config, const std::vector<std::uint32_t>& listed_counts, std::string& routes,
                   std::string& patterns);
// One route record from its 24 bytes; false when a field holds no valid value.
bool decode_route(const unsigned char* at, RouteRecord& out);

// A route index as a lookup record's value.
std::string encode_index(std::uint32_t index);

}  // namespace route_milter::image
