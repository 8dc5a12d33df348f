// address.hpp - SMTP envelope addresses (RFC 5321 Mailbox / Path) in canonical form.
//
// parse_address accepts what an MTA hands a milter as MAIL FROM / RCPT TO argument:
//   <alice@example.com>, alice@example.com, <@relay1,@relay2:alice@example.com> (source route,
//   dropped), <"john doe"@example.com> (quoting removed), <> (the null sender),
//   <postmaster> (no domain).
// RFC 822 comments are refused, not stripped: Postfix (tok822) and Sendmail (prescan) move
// "(...)" out of an address before they deliver it, so "<ceo@own.test(x)>" is delivered to
// ceo@own.test. A milter that kept or guessed at the comment would judge another address than the
// MTA delivers to; the MTAs accept these forms only for lax clients, so refusing them costs nothing.
// Canonical form is "local@domain" with the quoting removed, the whole address lower-cased
// (routes compare addresses case-insensitively, as hMailServer does) and the domain in
// canonical_domain() form. Nothing is allocated once the output buffer has grown.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace route_milter {

enum class AddressStatus {
    ok,
    empty,             // nothing at all (not even <>)
    unbalanced_angle,  // "<a@b" or "a@b>"
    unbalanced_quote,  // "\"a@b"
    bad_source_route,  // "<@a,@b a@b>": route without ':'
    bad_character,     // NUL, control characters, or space outside quotes
    comment,           // "(" or ")" outside quotes: an RFC 822 comment the MTA would strip
    bad_domain,        // empty domain after '@' or invalid IDN
    too_long,          // more than max_address_length octets
};

inline constexpr std::size_t max_address_length = 1024;

class NormalizedAddress {
public:
    bool is_null() const { return text_.empty(); }          // the null sender <>
    bool has_domain() const { return at_ != std::string::npos; }
    std::string_view text() const { return text_; }        // "local@domain" canonical
    std::string_view local() const;
    std::string_view domain() const;                      // empty when there is none

private:
    friend AddressStatus parse_address(std::string_view raw, NormalizedAddress& out);
    std::string text_;
    std::string domain_scratch_;
    std::size_t at_ = std::string::npos;
};

AddressStatus parse_address(std::string_view raw, NormalizedAddress& out);

// Name of a status for messages: "unbalanced quote".
std::string_view describe(AddressStatus status);

}  // namespace route_milter
