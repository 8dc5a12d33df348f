// policy.hpp - the compiled, immutable policy and its RCPT TO decision. No I/O.
//
// A Policy reads a policy image (policy_image.hpp) where it lies: the daemon maps the file
// `routectl compile` wrote, routectl opens the image it compiled. It is never changed once
// open; the daemon shares it through std::shared_ptr<const Policy> and swaps the whole thing
// on reload.
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
#include "route_milter/core/policy_image.hpp"
#include "route_milter/core/string_index.hpp"

#include <cdb.h>

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
    // The image's tables could not be read for the sender: every recipient tempfails.
    bool image_damaged = false;
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

// A route as the image holds it.
struct RouteView {
    std::uint32_t index = UINT32_MAX;
    std::string_view pattern;
    image::RouteRecord record;
    Mode mode = Mode::enforce;        // of its address list: effective_mode
    Mode range_mode = Mode::enforce;  // of the IP ranges' rules for its recipients: range_rules_mode
};

// The policy in force: a compiled image (policy_image.hpp) looked up in place. The image's
// bytes are never copied: a million listed addresses stay in the mapping, and only the
// settings and IP ranges are read into the heap.
class Policy {
public:
    struct Opened {
        std::shared_ptr<const Policy> policy;  // set only when error is empty
        std::string error;                    // why the image was refused
    };
    // Checks an image and opens it. `bytes` stay valid while `owner` lives (a mapping, or a
    // buffer); the policy holds `owner`. A damaged or truncated image is refused: its database
    // tables must end where the file ends, and every record but the lookups must match the
    // header's checksums and decode whole.
    static Opened open(image::Bytes bytes, std::shared_ptr<const void> owner);

    // The settings, IP ranges and local domains (no routes, no listed addresses: see route()).
    const Config& config() const { return config_; }
    const image::Header& header() const { return header_; }
    std::uint32_t route_count() const { return header_.route_count; }
    RouteView route(std::uint32_t index) const;
    std::size_t listed_address_count() const { return header_.listed_count; }
    std::size_t routes_in_mode(Mode mode) const { return mode == Mode::warn ? warn_routes_ : route_count() - warn_routes_; }

    // The matching IP range of highest priority that has not expired by `now`, or nullptr.
    const IpRangeConfig* range_for(const std::optional<IpAddress>& client, std::int64_t now) const;

    // A route lookup's answer: the route's index, none, or damaged (the image's tables could
    // not be read: the decision tempfails).
    static constexpr std::uint32_t no_route = UINT32_MAX;
    static constexpr std::uint32_t damaged = UINT32_MAX - 1;
    // The route for a canonical domain: exact, then longest "*.suffix", then "*".
    std::uint32_t route_for_domain(std::string_view domain) const;

    // Whether route `index` lists the canonical address; nullopt when the image is damaged.
    std::optional<bool> is_listed(std::uint32_t index, std::string_view canonical_address) const;

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
    // IP range's allow set, its TLS-for-AUTH requirement and its auth set. This server's own
    // domains (local_domains) never take a route, as in hMailServer. bare_postmaster: the RCPT
    // argument was <postmaster> without a domain, whatever address the MTA made of it.
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

private:
    enum class Found { no, yes, damaged };
    // A lookup record's route index. No allocation, no lock: each lookup works on its own copy
    // of the database handle.
    Found find(std::string_view key, std::uint32_t& value) const;
    AddressClass classify_sender(const NormalizedAddress& sender, bool& damaged_image) const;

    std::shared_ptr<const void> owner_;
    image::Bytes bytes_;
    cdb db_{};
    Config config_;
    image::Header header_;
    const unsigned char* routes_ = nullptr;
    std::string_view patterns_;
    std::uint32_t catch_all_ = no_route;
    bool wildcards_ = false;
    std::size_t warn_routes_ = 0;
    StringIndex local_domains_;
    std::vector<const IpRangeConfig*> ranges_by_priority_;
};

}  // namespace route_milter
