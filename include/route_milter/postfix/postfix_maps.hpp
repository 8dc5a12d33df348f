// postfix_maps.hpp - the Postfix files that carry the routes, as contents. No I/O.
//
// render_postfix_maps turns a validated Config into the files `routectl postfix` writes:
//   transport               route domain -> smtp:[host]:port[, [host2]:port...] (or the SMTPS or ETRN transport); "smtp:"
//                           (MX delivery: nexthop reset to the recipient domain) for routes
//                           without a host; ":" for local domains (Postfix's own delivery); the
//                           "*" route becomes default_transport in main.cf, so it never takes
//                           local domains
//   sasl_passwd             [host]:port -> user:password          (mode 0600), each host of a route
//   tls_policy              [host]:port (or the domain) -> none | may | encrypt | secure | verify
//   etrn_domains            ETRN routes' domains (fast_flush_domains, check_etrn_access)
//   relay_domains(.regexp)  domains of routes treated as local (backup MX), and local domains
//   relay_recipients(.regexp)  their listed addresses, or the whole domain
//   master.cf.snippet       only the transports the routes need
//   main.cf.snippet         the "name = value" lines that wire it all in (merged by routectl apply)
// The keyed tables are text as postmap reads it; main.cf names them with the table type of the
// options (cdb:/path, lmdb:/path, hash:/path). Everything is sorted, so the same config always
// gives the same bytes. Keys are written the way Postfix looks them up: addresses in external
// (quoted) form, postmap-quoted where needed (Postfix >= 3.2); IDN domains in A-label and U-label
// form (SMTPUTF8 lookups use the latter).
// In the regexp tables each wildcard line excludes the more specific routes below it that say
// otherwise, so every domain gets what its own route says.
#pragma once

#include "route_milter/core/config.hpp"
#include "route_milter/core/rendered_file.hpp"
#include "route_milter/core/diagnostic.hpp"
#include "route_milter/core/milter_socket.hpp"
#include "route_milter/core/name_code.hpp"
#include "route_milter/postfix/main_cf_merge.hpp"

#include <string>
#include <vector>

namespace route_milter {

// The indexed table types routectl writes: cdb and lmdb itself (postfix_tables.hpp), hash
// through postmap. main.cf names each table as TYPE:PATH.
enum class PostfixTableType { cdb, lmdb, hash };
inline constexpr NameCodeTable<PostfixTableType, 3> postfix_table_type_names{
    {{{"cdb", PostfixTableType::cdb}, {"lmdb", PostfixTableType::lmdb}, {"hash", PostfixTableType::hash}}}};
static_assert(postfix_table_type_names.in_order());

// The file Postfix opens for the table PATH: PATH.cdb, PATH.lmdb, PATH.db.
std::string_view postfix_table_suffix(PostfixTableType type);

struct PostfixMapsOptions {
    std::string output_dir;   // absolute path the maps will live in (for main.cf references)
    std::string milter_socket;  // smtpd_milters value; empty: derived from config.milter.socket
    // The target Postfix's mail_version ("3.7.11"); a route with several hosts needs >= 3.5.
    // Empty: unknown, and mail_version_error says why (a route with several hosts is refused).
    std::string mail_version;
    std::string mail_version_error;
    PostfixTableType table_type;  // of the keyed tables main.cf names
    // The admin's own relay domains, whose recipients Postfix took without a list: each gets
    // "@domain OK" in relay_recipients (routectl apply fills it in).
    std::vector<std::string> kept_relay_domains = {};
};

struct PostfixMapsResult {
    std::vector<RenderedFile> files;  // empty when errors is set
    Diagnostics errors;              // routes Postfix cannot express, conflicting credentials
    Diagnostics notes;               // what the files cannot honour exactly (schedules beyond 100 days)
    std::vector<MainCfWanted> main_cf;  // the settings main.cf.snippet shows, for routectl apply
};

// The relay_recipients file generates its listed-address lines from config.listed when it is written
// (RenderedFile::generate): `config` must outlive the result.
PostfixMapsResult render_postfix_maps(const Config& config, const PostfixMapsOptions& options);

// The smtpd_milters value for a route-milter socket: "unix:/path" stays, "inet:PORT@HOST"
// becomes "inet:HOST:PORT", "inet6:PORT@::1" "inet:[::1]:PORT" (no host: localhost, [::1]); a
// socket inside Postfix's chroot (/var/spool/postfix/...) is given relative to it.
std::string postfix_milter_address(const MilterSocket& socket);

// Names of the master.cf services: SMTPS (wrapper mode) routes, and ETRN routes (held in the
// queue by defer_transports until ETRN), plain and SMTPS.
inline constexpr const char* smtps_transport = "route-smtps";
inline constexpr const char* etrn_transport = "route-etrn";
inline constexpr const char* etrn_smtps_transport = "route-etrn-smtps";

}  // namespace route_milter
