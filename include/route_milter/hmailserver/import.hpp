// import.hpp - an hMailServer backup turned into a route-milter configuration, and a report.
//
// NAME
//   import_backup - HmsBackup (backup.hpp) -> annotated route-milter.conf text + report lines.
// SYNOPSIS
//   ImportResult r = import_backup(backup, {"HMBackup 2026-12-01.7z", now_epoch});
//   if (r.errors.empty()) write r.config_text; print r.notes;
// DESCRIPTION
//   Pure translation (no I/O; the clock comes in as `now`). scope = "all" (hMailServer applies
//   its ranges to every recipient); active domains and their aliases become local_domains;
//   every SecurityRange an ip_ranges entry (allow / require_auth from the Options bits,
//   require_tls_for_auth, expires); every Route a route (host list from `a|b`, port, security,
//   treat_*_as, deliver_to and the listed addresses, retries = tries - 1, retry_minutes, auth
//   with the decrypted password, etrn for an "ETRN..." description).
//   What route-milter cannot say the same way is written as a comment, never silently: each
//   case is one note ("route \"NAME\": ...", "range \"NAME\": ...", "domain \"NAME\": ...") for
//   stderr, and the same text, whole, as comment lines beside it in the config. The notes are
//   listed in README "Coming from hMailServer".
//   A route hMailServer never reached (a route before it in name order takes all its domains),
//   or one route-milter cannot take as it is (no name, a pattern like "mail?.example", listed
//   addresses only and none left), is written whole after the live routes, commented out: each
//   line starts with "#| ", and deleting those three characters from its lines gives a route
//   that `routectl check` takes, unless a "before uncommenting" comment in it says what to
//   change first. A description is written whole, as adjacent strings over as many lines as it
//   needs; comment text has every control character blanked, so no text leaves its comment.
// DIAGNOSTICS
//   errors: what makes a faithful config impossible (an encrypted password with a wrong
//   encoding, an IP that is not one, a bad host or domain name, ranges that overlap at equal
//   priority, an ExpiresTime that is no date), each naming the route, range or domain and the
//   value; all of them, not just the first. In a route written commented out, such a problem is
//   a note and a "before uncommenting" comment instead. No password is ever part of a note or
//   an error.
#pragma once

#include "route_milter/hmailserver/backup.hpp"

#include <string>
#include <vector>

namespace route_milter::hmailserver {

struct ImportOptions {
    std::string source;    // the backup's file name, for the header comment
    long long now = 0;     // seconds since the epoch (UTC): which ranges have expired
};

struct ImportResult {
    std::string config_text;
    std::vector<std::string> notes;   // what was not mapped as it was, one line each
    std::vector<std::string> errors;  // non-empty: no config can be written
    std::vector<std::string> routes_with_passwords;  // route names whose auth password is in config_text (commented out too)
    std::size_t routes = 0, listed_addresses = 0, ranges = 0, local_domains = 0;
    std::size_t routes_commented_out = 0;  // written whole but commented out (see DESCRIPTION)
};

ImportResult import_backup(const HmsBackup& backup, const ImportOptions& options);

}  // namespace route_milter::hmailserver
