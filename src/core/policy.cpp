#include "route_milter/core/policy.hpp"

#include <algorithm>
#include <cstring>

namespace route_milter {

namespace {

// tinycdb keeps its 256 table positions in the first 2048 bytes and writes the tables one after
// the other behind the records: they must end exactly where the image ends.
bool tables_fit(image::Bytes bytes, std::string& why) {
    if (bytes.size() < 2048 || bytes.size() > UINT32_MAX) {
        why = "truncated or oversized (" + std::to_string(bytes.size()) + " bytes)";
        return false;
    }
    std::uint64_t expected = cdb_unpack(bytes.data());
    if (expected < 2048) {
        why = "damaged table index";
        return false;
    }
    for (unsigned i = 0; i < 256; ++i) {
        const std::uint64_t pos = cdb_unpack(bytes.data() + 8 * i);
        const std::uint64_t slots = cdb_unpack(bytes.data() + 8 * i + 4);
        if (pos != expected) {
            why = "damaged table index";
            return false;
        }
        expected = pos + slots * 8;
    }
    if (expected != bytes.size()) {
        why = "truncated: its tables end at byte " + std::to_string(expected) + " of " + std::to_string(bytes.size());
        return false;
    }
    return true;
}

}  // namespace

Policy::Found Policy::find(std::string_view key, std::uint32_t& value) const {
    cdb local = db_;
    const int found = cdb_find(&local, key.data(), static_cast<unsigned>(key.size()));
    if (found == 0) return Found::no;
    if (found < 0 || cdb_datalen(&local) != 4) return Found::damaged;
    const auto* at = static_cast<const unsigned char*>(cdb_get(&local, 4, cdb_datapos(&local)));
    if (at == nullptr) return Found::damaged;
    value = cdb_unpack(at);
    return value < header_.route_count ? Found::yes : Found::damaged;
}

Policy::Opened Policy::open(image::Bytes bytes, std::shared_ptr<const void> owner) {
    Opened out;
    std::string why;
    if (!tables_fit(bytes, why)) return {nullptr, why};
    auto p = std::make_shared<Policy>();
    p->owner_ = std::move(owner);
    p->bytes_ = bytes;
    p->db_.cdb_fd = -1;
    p->db_.cdb_mem = bytes.data();
    p->db_.cdb_fsize = static_cast<unsigned>(bytes.size());
    p->db_.cdb_dend = std::min<unsigned>(cdb_unpack(bytes.data()), p->db_.cdb_fsize);
    const auto record = [&](std::string_view key, image::Bytes& to) {
        cdb local = p->db_;
        if (cdb_find(&local, key.data(), static_cast<unsigned>(key.size())) <= 0) return false;
        const void* at = cdb_get(&local, cdb_datalen(&local), cdb_datapos(&local));
        if (at == nullptr) return false;
        to = image::Bytes(static_cast<const unsigned char*>(at), cdb_datalen(&local));
        return true;
    };
    image::Bytes header, settings, routes, patterns;
    if (!record(image::header_key, header)) return {nullptr, "not a route-milter policy image (no header)"};
    auto decoded = image::decode_header(header, why);
    if (!decoded) return {nullptr, why};
    p->header_ = std::move(*decoded);
    const auto section = [&](std::string_view key, const image::Section& s, image::Bytes& to, const char* name) {
        if (!record(key, to) || to.size() != s.length || image::checksum(to) != s.checksum) {
            why = std::string("damaged ") + name + " record";
            return false;
        }
        return true;
    };
    if (!section(image::settings_key, p->header_.settings, settings, "settings") ||
        !section(image::routes_key, p->header_.routes, routes, "routes") ||
        !section(image::patterns_key, p->header_.patterns, patterns, "patterns"))
        return {nullptr, why};
    if (!image::decode_settings(settings, p->config_, why)) return {nullptr, why};
    if (routes.size() != static_cast<std::uint64_t>(p->header_.route_count) * image::RouteRecord::size)
        return {nullptr, "damaged routes record"};
    p->routes_ = routes.data();
    p->patterns_ = std::string_view(reinterpret_cast<const char*>(patterns.data()), patterns.size());
    for (std::uint32_t i = 0; i < p->header_.route_count; ++i) {
        image::RouteRecord r;
        if (!image::decode_route(p->routes_ + i * image::RouteRecord::size, r) ||
            static_cast<std::uint64_t>(r.pattern_offset) + r.pattern_length > patterns.size())
            return {nullptr, "damaged route record " + std::to_string(i)};
        if (r.kind == RoutePattern::Kind::catch_all) p->catch_all_ = i;
        if (r.kind == RoutePattern::Kind::wildcard) p->wildcards_ = true;
        p->warn_routes_ += r.mode.value_or(p->config_.mode) == Mode::warn;
    }
    for (const std::string& d : p->config_.local_domains) p->local_domains_.insert(d, 0);
    for (const IpRangeConfig& range : p->config_.ip_ranges) p->ranges_by_priority_.push_back(&range);
    std::stable_sort(p->ranges_by_priority_.begin(), p->ranges_by_priority_.end(),
                     [](const IpRangeConfig* a, const IpRangeConfig* b) { return a->priority > b->priority; });
    out.policy = std::move(p);
    return out;
}

RouteView Policy::route(std::uint32_t index) const {
    RouteView v;
    v.index = index;
    image::decode_route(routes_ + static_cast<std::size_t>(index) * image::RouteRecord::size, v.record);  // checked at open
    v.pattern = patterns_.substr(v.record.pattern_offset, v.record.pattern_length);
    v.mode = v.record.mode.value_or(config_.mode);
    v.range_mode = config_.mode == Mode::warn && v.mode == Mode::warn ? Mode::warn : Mode::enforce;
    return v;
}

const IpRangeConfig* Policy::range_for(const std::optional<IpAddress>& client, std::int64_t now) const {
    if (!client) return nullptr;
    for (const IpRangeConfig* range : ranges_by_priority_) {
        if (range->expired_at(now)) continue;
        for (const IpInterval& interval : range->intervals)
            if (interval.contains(*client)) return range;
    }
    return nullptr;
}

std::uint32_t Policy::route_for_domain(std::string_view domain) const {
    if (domain.empty() || domain.front() == '.' || domain.find('@') != std::string_view::npos) return no_route;
    std::uint32_t index = 0;
    switch (find(domain, index)) {
    case Found::yes: return index;
    case Found::damaged: return damaged;
    case Found::no: break;
    }
    if (wildcards_) {
        for (std::size_t dot = domain.find('.'); dot != std::string_view::npos; dot = domain.find('.', dot + 1)) {
            switch (find(domain.substr(dot), index)) {
            case Found::yes: return index;
            case Found::damaged: return damaged;
            case Found::no: break;
            }
        }
    }
    return catch_all_;
}

std::optional<bool> Policy::is_listed(std::uint32_t index, std::string_view canonical_address) const {
    // Only an address is a listed key: a domain or ".suffix" key names a route.
    if (canonical_address.find('@') == std::string_view::npos) return false;
    std::uint32_t listing = 0;
    switch (find(canonical_address, listing)) {
    case Found::yes: return listing == index;
    case Found::no: return false;
    case Found::damaged: break;
    }
    return std::nullopt;
}

AddressClass Policy::classify_sender(const NormalizedAddress& sender, bool& damaged_image) const {
    if (sender.is_null() || !sender.has_domain()) return AddressClass::external;
    if (local_domains_.find(sender.domain()) != nullptr) return AddressClass::local;
    const std::uint32_t index = route_for_domain(sender.domain());
    if (index == damaged) damaged_image = true;
    if (index >= route_count()) return AddressClass::external;
    const RouteView r = route(index);
    if (r.record.treat_sender_as != AddressClass::local) return AddressClass::external;
    if (r.record.deliver_to == DeliverTo::listed) {
        const std::optional<bool> listed = is_listed(index, sender.text());
        if (!listed) damaged_image = true;
        if (listed != true) return AddressClass::external;
    }
    return AddressClass::local;
}

MessageFacts Policy::message_facts(const std::optional<IpAddress>& client, bool authenticated, bool tls,
                                   const NormalizedAddress* sender, std::int64_t now,
                                   const NormalizedAddress* written) const {
    MessageFacts facts;
    facts.range = range_for(client, now);
    facts.authenticated = authenticated;
    facts.tls = tls;
    facts.sender_readable = sender != nullptr;
    facts.sender_class = sender != nullptr ? classify_sender(*sender, facts.image_damaged) : AddressClass::external;
    if (sender != nullptr && written != nullptr && written->text() != sender->text() &&
        classify_sender(*written, facts.image_damaged) == AddressClass::local)
        facts.sender_class = AddressClass::local;
    return facts;
}

namespace {
// RFC 5321 4.5.1: "<Postmaster>" without a domain must be accepted (case-insensitive).
bool is_bare_postmaster(const NormalizedAddress& a) { return !a.has_domain() && a.text() == "postmaster"; }
}  // namespace

Decision Policy::decide_recipient(const MessageFacts& facts, const NormalizedAddress& recipient,
                                  bool bare_postmaster) const {
    Decision d;
    d.range = facts.range;
    d.mode = config_.mode;
    if (bare_postmaster || is_bare_postmaster(recipient)) {
        d.rule = Rule::postmaster;
        return d;
    }
    if (!facts.sender_readable) {
        d.rule = Rule::bad_sender;
        return d;
    }
    if (facts.image_damaged) {
        d.rule = Rule::policy_unreadable;
        return d;
    }
    // Own domains first: no wildcard or "*" route takes them (routectl's maps agree).
    const bool own_domain = recipient.has_domain() && local_domains_.find(recipient.domain()) != nullptr;
    // For its own domains (and bare names) the MTA reads "a%far.test", "far.test!a" and
    // "\"a@far.test\"" as routes to far.test and relays there: never judge them as local.
    if ((own_domain || !recipient.has_domain()) && recipient.local().find_first_of("%!@") != std::string_view::npos) {
        d.rule = Rule::routed_address;
        return d;
    }
    std::uint32_t index = no_route;
    if (recipient.has_domain() && !own_domain) index = route_for_domain(recipient.domain());
    if (index == damaged) {
        d.rule = Rule::policy_unreadable;
        return d;
    }
    RouteView route_of;
    if (index != no_route) {
        route_of = route(index);
        d.route = {index, route_of.pattern, route_of.record.line};
        d.mode = route_of.mode;
    } else if (config_.scope == Scope::routes) {
        d.rule = Rule::out_of_scope;
        return d;
    }
    if (d.route && route_of.record.deliver_to == DeliverTo::listed) {
        const std::optional<bool> listed = is_listed(index, recipient.text());
        if (!listed) {
            d.rule = Rule::policy_unreadable;
            return d;
        }
        if (!*listed) {
            d.rule = Rule::not_listed;
            return d;
        }
    }
    // The recipient's class without a second lookup (a listing route lists the recipient by now).
    const AddressClass rcpt_class = own_domain || !recipient.has_domain() ? AddressClass::local
                                    : d.route && route_of.record.treat_recipient_as == AddressClass::local
                                        ? AddressClass::local
                                        : AddressClass::external;
    const DeliveryClass cls = delivery_class(facts.sender_class, rcpt_class);
    d.delivery_class = cls;
    if (facts.range == nullptr || !facts.range->allow.contains(cls)) d.rule = Rule::not_allowed;
    // hMailServer refuses AUTH without TLS in such a range; the MTA took it, so the session's
    // mail is refused instead, whatever its class needs.
    else if (facts.range->require_tls_for_auth && facts.authenticated && !facts.tls) d.rule = Rule::tls_required;
    else if (facts.range->require_auth.contains(cls) && !facts.authenticated) d.rule = Rule::auth_required;
    else d.rule = Rule::no_objection;
    // A route's warn mode rehearses its address list only; the ranges' rules have their own mode.
    if (d.rule != Rule::no_objection) d.mode = d.route ? route_of.range_mode : config_.mode;
    return d;
}

Decision Policy::decide_recipient(const MessageFacts& facts, const char* mta_reading, std::string_view raw_recipient,
                                  NormalizedAddress& scratch) const {
    const EnvelopeReading reading = read_envelope_address(mta_reading, raw_recipient, scratch);
    if (reading.status != AddressStatus::ok || scratch.is_null()) {
        Decision d;
        d.rule = Rule::bad_address;
        d.range = facts.range;
        d.mode = config_.mode;
        return d;
    }
    return decide_recipient(facts, scratch, reading.bare_postmaster);
}

Decision Policy::decide(const Query& query) const {
    NormalizedAddress sender;
    NormalizedAddress recipient;
    const bool sender_ok = parse_address(query.sender, sender) == AddressStatus::ok;
    const MessageFacts facts =
        message_facts(query.client, query.authenticated, query.tls, sender_ok ? &sender : nullptr, query.now);
    return decide_recipient(facts, query.recipient, recipient);
}

}  // namespace route_milter
