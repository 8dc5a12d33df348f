// address.hpp - SMTP envelope addresses (RFC 5321 Mailbox / Path) in canonical form.
//
// parse_address accepts what an MTA hands a milter as MAIL FROM / RCPT TO argument:
//   <alice@example.com>, alice@example.com, <@relay1,@relay2:alice@example.com> (source route,
//   dropped), <"john doe"@example.com> (quoting removed), <> (the null sender),
//   <postmaster> (no domain).
// It is strict: every RFC 822 special outside quotes that the MTAs read as address syntax is
// refused, not guessed at. Postfix (tok822) and Sendmail (prescan) drop comments "(...)", group
// phrases "name: ...;" and list separators "," and ";" before they deliver, so
// "<ceo@own.test;>" is delivered to ceo@own.test while a hand-made reading would see the domain
// "own.test;". What is left is read the same way by every MTA.
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
    special_character, // ",", ";", ":", "[" or "]" outside quotes (list, group or route syntax;
                       // "[...]" is allowed as a whole domain: an address literal)
    bad_domain,        // empty domain after '@' or invalid IDN
    mta_disagrees,     // the MTA read another local part than the argument's
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

// The envelope address the MTA delivers to: its own reading when it sent one (Postfix's
// {mail_addr} / {rcpt_addr}: the address after its parse and resolver, local part quoted as in
// RFC 5321; "" for the null sender; Sendmail's mailer address). A reading that does not parse
// is refused, not replaced by the argument. Where the reading holds no domain (Sendmail's local
// mailer gives the user alone), the SMTP argument read strictly gives it, and must hold the same
// local part; where the MTA sent none, the argument read strictly.
struct EnvelopeReading {
    AddressStatus status = AddressStatus::empty;
    bool from_mta = false;         // the MTA's reading was used, not the argument
    bool bare_postmaster = false;  // the argument was <postmaster> without a domain (RFC 5321 4.5.1)
};
EnvelopeReading read_envelope_address(const char* mta_reading, std::string_view argument, NormalizedAddress& out);

// Name of a status for messages: "unbalanced quote".
std::string_view describe(AddressStatus status);

}  // namespace route_milter
