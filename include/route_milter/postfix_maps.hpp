// postfix_maps.hpp - the Postfix files that carry the routes, as contents. No I/O.
//
// render_postfix_maps turns a validated Config into the files `routectl postfix` writes:
//   transport               route domain -> smtp:[host]:port (or the SMTPS transport); ":" (MX
//                           delivery) for routes without a host; the "*" route becomes
//                           default_transport in main.cf, so it never takes local domains
//   sasl_passwd             [host]:port -> user:password          (mode 0600)
//   tls_policy              [host]:port (or the domain) -> none | may | encrypt
//   relay_domains(.regexp)  domains of routes treated as local (backup MX)
//   relay_recipients(.regexp)  their listed addresses, or the whole domain
//   master.cf.snippet       only the transports the routes need
//   main.cf.snippet         the "name = value" lines that wire it all in
// Everything is sorted, so the same config always gives the same bytes.
#pragma once

#include "route_milter/config.hpp"
#include "route_milter/diagnostic.hpp"

#include <string>
#include <vector>

namespace route_milter {

struct RenderedFile {
    std::string name;     // file name inside the output directory
    std::string content;
    unsigned mode = 0644;
    bool postmap = false;  // a hash: table that `postmap` compiles
};

struct PostfixMapsOptions {
    std::string output_dir;   // absolute path the maps will live in (for main.cf references)
    std::string milter_socket;  // smtpd_milters value; empty: derived from config.milter.socket
};

struct PostfixMapsResult {
    std::vector<RenderedFile> files;  // empty when errors is set
    Diagnostics errors;              // routes Postfix cannot express, conflicting credentials
};

PostfixMapsResult render_postfix_maps(const Config& config, const PostfixMapsOptions& options);

// The smtpd_milters value for a route-milter socket setting: "unix:/path" stays, "inet:PORT@HOST"
// becomes "inet:HOST:PORT"; a socket inside Postfix's chroot (/var/spool/postfix/...) is given
// relative to it.
std::string postfix_milter_address(const std::string& socket);

// Name of the master.cf service used for SMTPS (wrapper mode) routes.
inline constexpr const char* smtps_transport = "route-smtps";

}  // namespace route_milter
