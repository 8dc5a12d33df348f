// domain.hpp - canonical form of DNS domain names for comparison.
//
// Canonical form: ASCII, lower case, no trailing dot, IDN U-labels converted to A-labels with
// libidn2 (IDNA2008 / TR46 non-transitional), so "Bücher.Example." and "xn--bcher-kva.example"
// compare equal. Bracketed address literals ("[192.0.2.1]") are only lower-cased.
// A domain with non-ASCII labels is taken only in the spelling its A-labels give back
// (idn2_to_unicode_8z8z), up to case ("BÜCHER" is "bücher"): the one spelling, besides the
// A-labels, that routectl postfix writes into the maps, and Postfix looks a domain up as it came,
// folding its case. Other spellings the mapping would fold into the same A-labels (decomposed
// NFD, fullwidth letters, U+3002 for a dot, soft hyphens, ligatures, an A-label beside a U-label)
// are bad_idn: the milter would judge them under a route that Postfix's maps do not give them.
#pragma once

#include <string>
#include <string_view>

namespace route_milter {

enum class DomainStatus { ok, empty, bad_idn, too_long };

// Writes the canonical form of `in` to `out` (whose capacity is reused; no allocation for ASCII
// input once `out` is large enough).
DomainStatus canonical_domain(std::string_view in, std::string& out);

// The spelling canonical_domain takes for `in` when it refused `in` for its spelling alone
// ("bücher.example" for a decomposed "bu\u0308cher.example"), for error messages;
// "" when `in` is fine or no spelling would do.
std::string canonical_spelling(std::string_view in);
// For a message about `text` (a domain, or an address whose domain follows its last '@'):
// "; write the domain as \"bücher.example\"" when canonical_spelling has one, else "".
std::string spelling_hint(std::string_view text);

// True when `name` (canonical) is a host name: dot-separated labels of 1..63 letters, digits and
// hyphens, no label starting or ending with a hyphen, 253 characters at most.
bool is_host_name(std::string_view name);

}  // namespace route_milter
