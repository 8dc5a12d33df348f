// domain.hpp - canonical form of DNS domain names for comparison.
//
// Canonical form: ASCII, lower case, no trailing dot, IDN U-labels converted to A-labels with
// libidn2 (IDNA2008 / TR46 non-transitional), so "Bücher.Example." and "xn--bcher-kva.example"
// compare equal. Bracketed address literals ("[192.0.2.1]") are only lower-cased.
#pragma once

#include <string>
#include <string_view>

namespace route_milter {

enum class DomainStatus { ok, empty, bad_idn, too_long };

// Writes the canonical form of `in` to `out` (whose capacity is reused; no allocation for ASCII
// input once `out` is large enough).
DomainStatus canonical_domain(std::string_view in, std::string& out);

// True when `name` (canonical) is a host name: dot-separated labels of 1..63 letters, digits and
// hyphens, no label starting or ending with a hyphen, 253 characters at most.
bool is_host_name(std::string_view name);

}  // namespace route_milter
