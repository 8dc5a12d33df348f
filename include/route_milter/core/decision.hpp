// decision.hpp - what the policy decided for one recipient, and why.
#pragma once

#include "route_milter/core/delivery_class.hpp"
#include "route_milter/core/mode.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace route_milter {

struct IpRangeConfig;

// The rules of hMailServer's RCPT TO check, in the order they are applied.
enum class Rule : std::uint8_t {
    out_of_scope,   // scope = "routes" and the recipient's domain has no route: not judged
    no_objection,   // every rule passed: the milter has no objection (the MTA may still refuse)
    bad_address,    // the recipient could not be parsed
    not_listed,     // 1. listed route, address not listed
    not_allowed,    // 2. no IP range covers the client, or the range does not allow the class
    auth_required,  // 3. the range requires SMTP AUTH for the class
    bad_sender,     // the MAIL FROM address could not be read exactly as the MTA reads it
    postmaster,     // <postmaster> without a domain: always accepted (RFC 5321 4.5.1)
    routed_address, // '%', '!' or '@' in the local part of an own or bare address: the MTA
                    // would re-route it (percent hack, bang path, dequoting) to another domain
    tls_required,   // the client's range requires TLS for SMTP AUTH, and this session
                    // authenticated without it
    policy_unreadable,  // the policy image's tables could not be read (damage): tempfail
};

// The route a decision names: its index in the policy, its pattern and the config line.
struct DecidedRoute {
    std::uint32_t index = UINT32_MAX;
    std::string_view pattern;
    std::uint32_t line = 0;
    explicit operator bool() const { return index != UINT32_MAX; }
};

// NUL-terminated literals, so a shell can hand them to libmilter as they are.
struct SmtpReply {
    const char* code;    // "550"
    const char* xcode;   // "5.1.1"
    const char* text;    // "Recipient not in route list."
    bool names_address;  // text is prefixed with "<address>: "
};

// Whether a rejecting rule is a policy decision (routes, IP ranges, AUTH, source routing),
// which warn mode only logs. bad-address and bad-sender are not: an address the milter cannot
// read as the MTA reads it gives no policy to try out, and letting it through would let a
// forged or mis-parsed address decide what the warn log claims.
bool is_policy_rule(Rule rule);

// Reply for a rejecting rule; {"250","2.1.5","Ok"} for the others.
SmtpReply reply_for(Rule rule);

struct Decision {
    Rule rule = Rule::out_of_scope;
    // Known once the listed-address rule has passed (rules 2 and 3, or no objection).
    std::optional<DeliveryClass> delivery_class;
    DecidedRoute route;                    // the recipient's route, if any
    const IpRangeConfig* range = nullptr;  // the client's range, if any
    // The mode of the rule that decided: for not-listed the route's own (effective_mode), for
    // not-allowed, auth-required and tls-required the ranges' rules' (range_rules_mode), else the
    // route's mode, or the top-level one without a route.
    Mode mode = Mode::enforce;

    // The rule objects to the recipient (whether or not the objection is enforced).
    bool rejects() const { return rule != Rule::out_of_scope && rule != Rule::no_objection && rule != Rule::postmaster; }
    // The objection is only logged: warn mode and a policy rule.
    bool warns() const { return rejects() && mode == Mode::warn && is_policy_rule(rule); }
    // The MTA is told to refuse the recipient.
    bool refuses() const { return rejects() && !warns(); }
    SmtpReply reply() const { return reply_for(rule); }
};

// The reply text for `rule` into out[size] (NUL-terminated, truncated to fit): the rule's text,
// prefixed with "<recipient>: " where the rule names the address. Characters unsafe in an SMTP
// reply (controls, 8-bit, '%', '\\') become '?'. A recipient longer than max_quoted_address is
// cut there and marked "...": libmilter refuses replies near 1000 bytes, and a refusal must not
// turn into a tempfail. Does not allocate.
inline constexpr std::size_t max_quoted_address = 200;
void format_reply_text(Rule rule, std::string_view recipient, char* out, std::size_t size);

// Short name used in logs and `routectl query`: "not-listed".
std::string_view name_of(Rule rule);

}  // namespace route_milter
