// policy.hpp - the compiled, immutable policy and its RCPT TO decision. No I/O.
//
// compile_policy indexes a validated Config (hash indexes for domains and listed addresses,
// ranges by priority). A Policy is never changed after compilation; the daemon shares it
// through std::shared_ptr<const Policy> and swaps the whole thing on reload.
//
// The decision is split the way the SMTP dialogue is: facts about the client and the sender
// are fixed once per message (MessageFacts), then each recipient is judged against them
// without allocating.
#pragma once

#include "route_milter/core/address.hpp"
#include "route_milter/core/config.hpp"
#include "route_milter/core/decision.hpp"
#include "route_milter/core/diagnostic.hpp"
#include "route_milter/core/ip_address.hpp"
#include "route_milter/core/string_index.hpp"

#include <memory>
#include <optional>
#include <string_view>

namespace route_milter {

struct MessageFacts {
    const IpRangeConfig* range = nullptr;  // the client's range of highest priority, if any
    AddressClass sender_class = AddressClass::external;
    bool authenticated = false;
    bool tls = false;  // the session is encrypted (STARTTLS or SMTPS)
    // False when MAIL FROM could not be read as the MTA reads it (a comment, bad quoting...):
    // its class is unknown, and guessing "external" would let a forged local sender skip AUTH.
    bool sender_readable = true;
};

// Everything `decide` needs, as an MTA would hand it over.
struct Query {
    std::optional<IpAddress> client;  // nullopt: unknown (no range can cover it)
    bool authenticated = false;
    std::string_view sender;     // MAIL FROM argument, e.g. "<a@b>" or "<>"
    std::string_view recipient;  // RCPT TO argument
    bool tls = false;            // the session is encrypted
    std::int64_t now = 0;        // seconds since the epoch: ranges expired by then match no client
};

class Policy {
public:
    const Config& config() const { return config_; }

    // The matching IP range of highest priority that has not expired by `now`, or nullptr.
    const IpRangeConfig* range_for(const std::optional<IpAddress>& client, std::int64_t now) const;

    // The route for a canonical domain: exact, then longest "*.suffix", then "*".
    const RouteConfig* route_for_domain(std::string_view domain) const;

    bool is_listed(const RouteConfig& route, std::string_view canonical_address) const;

    AddressClass classify_sender(const NormalizedAddress& sender) const;
    AddressClass classify_recipient(const NormalizedAddress& recipient, const RouteConfig* route) const;

    // sender: the parsed MAIL FROM address, or nullptr when it could not be parsed. now: the
    // time of MAIL FROM (seconds since the epoch), for the ranges' expiry.
    // written: the sender as the client wrote it, where it reads (strictly) to another address
    // than the MTA's resolved one (Postfix resolves <a%far.test@own.test> to a@far.test but
    // queues it as written): the sender is local when either form is, so an own address in the
    // queue is never judged external.
    MessageFacts message_facts(const std::optional<IpAddress>& client, bool authenticated, bool tls,
                               const NormalizedAddress* sender, std::int64_t now,
                               const NormalizedAddress* written = nullptr) const;

    // The RCPT TO decision for one parsed recipient. The rules, in order: <postmaster>, an
    // unreadable sender, a source-routed own address, scope, the listed-address rule, then the
    // IP range's allow set, its TLS-for-AUTH requirement and its auth set. This server's own domains (local_domains) never take a
    // route, as in hMailServer. bare_postmaster: the RCPT argument was <postmaster> without a
    // domain, whatever address the MTA made of it.
    Decision decide_recipient(const MessageFacts& facts, const NormalizedAddress& recipient,
                              bool bare_postmaster = false) const;

    // The same for the recipient as the MTA gave it (read_envelope_address: its own reading,
    // mta_reading, when it has one, else the raw RCPT TO argument), read into scratch
    // (bad-address when it cannot be).
    Decision decide_recipient(const MessageFacts& facts, const char* mta_reading, std::string_view raw_recipient,
                              NormalizedAddress& scratch) const;
    Decision decide_recipient(const MessageFacts& facts, std::string_view raw_recipient,
                              NormalizedAddress& scratch) const {
        return decide_recipient(facts, nullptr, raw_recipient, scratch);
    }

    // The whole decision from raw MTA input (parses both addresses).
    Decision decide(const Query& query) const;

    std::size_t listed_address_count() const { return config_.listed.indexed_count(); }
    std::size_t listed_address_count(const RouteConfig& route) const {
        return config_.listed.listed_count(static_cast<std::uint32_t>(&route - config_.routes.data()));
    }

private:
    friend struct PolicyCompiler;
    Config config_;  // its listed addresses are indexed in place (config_.listed)
    StringIndex exact_routes_;     // "example.com" -> route index
    StringIndex wildcard_routes_;  // ".example.com" (from "*.example.com") -> route index
    const RouteConfig* catch_all_ = nullptr;
    // What the RCPT path reads of a route, 8 bytes each, by the route's index: a hundred thousand
    // routes take 800 kB that stay in cache, where the routes themselves (~170 bytes each, 17 MB)
    // would cost a cache miss a recipient (make bench: ~5% of the decisions/s).
    struct RouteFacts {
        std::uint32_t listed_place = UINT32_MAX;
        DeliverTo deliver_to = DeliverTo::all;
        AddressClass treat_recipient_as = AddressClass::external;
        Mode mode = Mode::enforce;        // of its address list: effective_mode
        Mode range_mode = Mode::enforce;  // of the IP ranges' rules: range_rules_mode
    };
    static_assert(sizeof(RouteFacts) == 8);
    std::vector<RouteFacts> route_facts_;
    // The index of the route for `domain` (its hash: StringIndex::key_hash), or UINT32_MAX.
    std::uint32_t route_index_for_domain(std::string_view domain, std::uint32_t domain_hash) const;
    StringIndex local_domains_;
    std::vector<const IpRangeConfig*> ranges_by_priority_;
};

struct PolicyResult {
    std::shared_ptr<const Policy> policy;  // set only when errors is empty
    Diagnostics errors;
    // An error lies in a part of the address index a reload kept from the running policy, where
    // no file:line is left to name: load again, building every part, for the report.
    bool rebuild_listed = false;
};

// Compiles a Config that load_config_* accepted, finishing its validation with the checks
// that need the whole route table: an address listed twice, or listed under a wildcard route
// while a more specific route takes its domain. The listed addresses are indexed where they are
// (Config::listed); their records (file:line of each) are dropped afterwards, unless the caller
// renders files from config() too (routectl): then they stay, and no second copy of the config
// is ever made.
enum class ListedAddressUse { into_index, also_in_config };
PolicyResult compile_policy(Config config, ListedAddressUse lists = ListedAddressUse::into_index);


}  // namespace route_milter
