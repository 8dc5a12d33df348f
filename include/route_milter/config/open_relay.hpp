// open_relay.hpp - the route patterns that, treated as local, would relay for anyone's domains.
//
// NAME
//   open_relay_reason - why treat_recipient_as = "local" on a route pattern makes an open relay.
// DESCRIPTION
//   A route treated as local makes its domains relay destinations: the milter judges their
//   recipients local (external-local, which ranges let through without AUTH) and routectl's maps
//   put them in relay_domains. On "*" that is every domain; on "*.SUFFIX" where SUFFIX is a
//   public suffix (a top-level domain, or a registry's suffix such as co.uk) it is every domain
//   registered under it, which no one server's owner holds. Public suffixes are those of the
//   ICANN section of libpsl's list (the newer of its built-in copy and Debian's publicsuffix
//   package's file): the private section names hosting companies' own suffixes, which may run
//   a backup MX for their customers, and a name the list does not know ("lan", "test") reaches
//   no one on the Internet.
// DIAGNOSTICS
//   The reason, one phrase naming the pattern ("every domain", "every domain under co.uk (a
//   public suffix)"); nullopt for a pattern that may be treated as local. Without any list
//   (libpsl built without one and the file missing) only "*" is refused.
#pragma once

#include "route_milter/core/route_pattern.hpp"

#include <optional>
#include <string>

namespace route_milter {

std::optional<std::string> open_relay_reason(const RoutePattern& pattern);

}  // namespace route_milter
