// sendmail_maps.hpp - the Sendmail files that carry the routes, as contents. No I/O.
//
// render_sendmail_maps turns a validated Config into the files `routectl sendmail` writes:
//   mailertable          route domain -> esmtp:[host] (".example.com" for "*.example.com", "." for
//                        "*"); several hosts esmtp:[mx1]:[mx2], tried in order; a port other
//                        than 25 gets its own mailer, route_esmtp_PORT; an ETRN route an
//                        expensive one (F=e), route_etrn_esmtp_PORT
//   access               To: RELAY for routes treated as local (backup MX: the listed addresses,
//                        the whole domain for deliver_to "all" and for a route in warn mode,
//                        whose list the milter alone rehearses), TLS_Srv:/Try_TLS:
//                        per target host and TLS_Rcpt: per domain where security asks for it
//                        (VERIFY:112+CN with tls_verify), QGRP: putting each route in its own
//                        queue group, ETRN: OK for the ETRN routes' domains
//   authinfo             AuthInfo:host -> the route's user and password, for each host (0600)
//   sendmail.mc.snippet  the FEATUREs, QUEUE_GROUPs, mailers, INPUT_MAIL_FILTER and the
//                        check_etrn ruleset to add to sendmail.mc
// Everything is sorted, so the same config always gives the same bytes. What Sendmail (8.17)
// cannot express is an error naming the route; nothing is dropped silently.
//
// Access map keys match subdomains in Sendmail ("To:example.com" also covers a.example.com),
// routes do not: the renderer adds "Tag:.example.com" entries (FEATURE(access_db)'s
// lookupdotdomain) that give subdomains what their own route says, or SKIP.
#pragma once

#include "route_milter/core/config.hpp"
#include "route_milter/core/diagnostic.hpp"
#include "route_milter/core/milter_socket.hpp"
#include "route_milter/core/rendered_file.hpp"

#include <string>
#include <vector>

namespace route_milter {

inline constexpr const char* default_sendmail_queue_dir = "/var/spool/mqueue";
inline constexpr const char* default_sendmail_config = "/etc/mail/sendmail.cf";

struct SendmailMapsOptions {
    std::string output_dir;  // absolute directory the maps live in (named in the .mc snippet)
    std::string queue_dir = default_sendmail_queue_dir;  // Sendmail's QueueDirectory; queue groups go below it
    std::string milter_socket;  // INPUT_MAIL_FILTER S= value; empty: derived from config.milter.socket
                                // (a value that reads as a milter socket is spelled as one)
};

struct SendmailQueueGroup {
    std::string name;       // QUEUE_GROUP name
    std::string directory;  // its P= directory (must exist before Sendmail starts)
    const RouteConfig* route = nullptr;
};

struct SendmailMapsResult {
    std::vector<RenderedFile> files;  // empty when errors is set; RenderedFile::postmap = "makemap hash"
    std::vector<SendmailQueueGroup> queue_groups;
    Diagnostics errors;  // routes Sendmail cannot express, conflicting per-host settings, bad paths
};

// The access file generates its listed-address lines from config.listed when it is written
// (RenderedFile::generate): `config` must outlive the result.
SendmailMapsResult render_sendmail_maps(const Config& config, const SendmailMapsOptions& options);

// INPUT_MAIL_FILTER's S= value for a route-milter socket: libmilter's own spelling, which
// Sendmail shares ("unix:/path", "inet:PORT@HOST", "inet6:PORT@HOST"; "local:" becomes "unix:").
std::string sendmail_milter_address(const MilterSocket& socket);

// The queue group of a route: "route_" + the domain with '.' -> '_' and '-' -> "__";
// "route__" + the base domain for "*.domain"; "route___all" for "*". Distinct for distinct
// routes; long names are shortened with a hash of the domain.
std::string sendmail_queue_group_name(const RoutePattern& route);

// The mailer that delivers to a route's port: "esmtp" for 25, else "route_esmtp_PORT".
std::string sendmail_mailer_for_port(int port);

// The mailer of an ETRN route (expensive, F=e: its mail waits for a queue run): "route_etrn_esmtp_PORT".
std::string sendmail_etrn_mailer_for_port(int port);

// Name of the .mc snippet in the output directory.
inline constexpr const char* sendmail_mc_snippet = "sendmail.mc.snippet";

}  // namespace route_milter
