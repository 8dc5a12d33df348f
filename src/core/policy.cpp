#include "route_milter/core/policy.hpp"


#include <algorithm>

namespace route_milter {

struct PolicyCompiler {
    static PolicyResult compile(Config config, ListedAddressUse lists);
};

PolicyResult PolicyCompiler::compile(Config config, ListedAddressUse lists) {
    PolicyResult result;
    auto policy = std::make_shared<Policy>();
    policy->config_ = std::move(config);
    Config& c = policy->config_;
    // Lines are in the file they were read from (an @include); a hand-made Config has one file.
    const auto file_name = [&](std::uint32_t file) -> std::string {
        return file < c.files.size() ? std::string(c.files[file]) : c.file;
    };
    const auto error = [&](const ListedAddresses::Record& at, std::string message) {
        result.errors.push_back({file_name(at.file), at.line, std::move(message)});
    };
    const auto line_of = [&](const RouteConfig& route, const ListedAddresses::Record& here) {
        if (route.file == here.file) return "line " + std::to_string(route.line);
        return file_name(route.file) + ":" + std::to_string(route.line);
    };

    policy->exact_routes_.reserve(c.routes.size());

    for (std::size_t i = 0; i < c.routes.size(); ++i) {
        RouteConfig& r = c.routes[i];
        const auto index = static_cast<std::uint32_t>(i);
        switch (r.pattern.kind()) {
        case RoutePattern::Kind::catch_all: policy->catch_all_ = &r; break;
        case RoutePattern::Kind::wildcard: policy->wildcard_routes_.insert(r.pattern.suffix(), index); break;
        case RoutePattern::Kind::exact: policy->exact_routes_.insert(r.pattern.text(), index); break;
        case RoutePattern::Kind::none: break;  // a hand-made Config: the route matches nothing
        }
    }
    for (const std::string& d : c.local_domains) policy->local_domains_.insert(d, 0);
    // Within a route: the shards see that.
    c.listed.index([&](const ListedAddresses::Record& a, std::uint32_t first) {
        error(a, "routes: address listed twice, also under " + c.routes[first].pattern.text() + " (" +
                     line_of(c.routes[first], a) + ") (\"" + std::string(c.listed.text(a)) + "\")");
    });
    // Across routes, only a wildcard or "*" route can list an address another route lists (two
    // routes of one domain are the loader's error): every address such a route lists is checked
    // against the routes that cover its domain. Its record names the line; in a shard a reload
    // kept there is none, and an error there asks for a load that builds every shard.
    const auto route_index = [&](const RouteConfig* r) { return static_cast<std::uint32_t>(r - c.routes.data()); };
    const auto record_of = [&](std::uint32_t route, std::string_view address) -> const ListedAddresses::Record* {
        for (const ListedAddresses::Record& a : c.listed.of_route(route))
            if (c.listed.text(a) == address) return &a;
        return nullptr;
    };
    std::vector<std::uint32_t> listing;
    const auto check_wide = [&](std::uint32_t wide, std::string_view address, const ListedAddresses::Record* at) {
        const RouteConfig& r = c.routes[wide];
        const std::string_view domain = address.substr(address.rfind('@') + 1);
        if (policy->local_domains_.find(domain) != nullptr) {
            if (at == nullptr) return void(result.rebuild_listed = true);
            error(*at, "routes: address is listed under " + r.pattern.text() + " but " + std::string(domain) +
                           " is one of local_domains, which no wildcard or \"*\" route takes (\"" +
                           std::string(address) + "\")");
            return;
        }
        const RouteConfig* owner = policy->route_for_domain(domain);
        // owner->pattern == r.pattern: a duplicate route domain, which the loader reports.
        if (owner != nullptr && owner != &r && owner->pattern != r.pattern) {
            if (at == nullptr) return void(result.rebuild_listed = true);
            error(*at, "routes: address is listed under " + r.pattern.text() + " but route " + owner->pattern.text() +
                           " (" + line_of(*owner, *at) + ") takes its domain (\"" + std::string(address) + "\")");
        }
        // Every route covering the domain that lists the address: each after the first is told
        // (once: by the first wildcard or "*" route among them).
        listing.clear();
        const auto consider = [&](const std::uint32_t* route) {
            if (route != nullptr && c.listed.lists(*route, address)) listing.push_back(*route);
        };
        consider(policy->exact_routes_.find(domain));
        for_each_wildcard_suffix(domain, [&](std::string_view suffix) {
            consider(policy->wildcard_routes_.find(suffix));
            return true;
        });
        if (policy->catch_all_ != nullptr) {
            const std::uint32_t all = route_index(policy->catch_all_);
            consider(&all);
        }
        if (listing.size() < 2) return;
        std::sort(listing.begin(), listing.end());
        for (const std::uint32_t l : listing)
            if (!c.routes[l].pattern.is_exact()) {
                if (l != wide) return;
                break;
            }
        const RouteConfig& first = c.routes[listing.front()];
        for (std::size_t k = 1; k < listing.size(); ++k) {
            const ListedAddresses::Record* dup = record_of(listing[k], address);
            if (dup == nullptr) return void(result.rebuild_listed = true);
            error(*dup, "routes: address listed twice, also under " + first.pattern.text() + " (" +
                            line_of(first, *dup) + ") (\"" + std::string(address) + "\")");
        }
    };
    const auto is_wide = [&](std::uint32_t route) {
        return c.routes[route].pattern.is_wildcard() || c.routes[route].pattern.is_catch_all();
    };
    for (const ListedAddresses::Record& a : c.listed.records())
        if (a.route < c.routes.size() && is_wide(a.route)) check_wide(a.route, c.listed.text(a), &a);
    // A kept shard has no records left: its wildcard and "*" routes' addresses come from its
    // index, walked once whatever the number of such routes in it.
    if (c.listed.kept_shards().any()) {
        std::vector<std::vector<std::pair<std::uint32_t, std::uint32_t>>> wide_by_shard;  // (tag, route)
        for (std::uint32_t i = 0; i < c.routes.size(); ++i)
            if (is_wide(i) && c.listed.placed(i) && c.listed.kept(c.listed.shard_of_route(i))) {
                if (wide_by_shard.empty()) wide_by_shard.resize(ListedAddresses::shard_count);
                wide_by_shard[c.listed.shard_of_route(i)].emplace_back(c.listed.place_of(i) >> 8, i);
            }
        for (std::uint32_t s = 0; s < wide_by_shard.size(); ++s) {
            auto& wide = wide_by_shard[s];
            if (wide.empty()) continue;
            std::sort(wide.begin(), wide.end());
            c.listed.for_each_in_shard(s, [&](std::string_view address, std::uint32_t tag) {
                const auto found = std::lower_bound(wide.begin(), wide.end(), std::pair{tag, std::uint32_t{0}});
                if (found != wide.end() && found->first == tag) check_wide(found->second, address, nullptr);
            });
        }
    }
    for (std::size_t i = 0; i < c.routes.size(); ++i) c.routes[i].listed_place = c.listed.place_of(static_cast<std::uint32_t>(i));
    if (lists == ListedAddressUse::into_index) c.listed.drop_records();
    // The RCPT path's copy of what it reads of each route (policy.hpp: RouteFacts); made once
    // the records are gone, so that it does not add to the compile's peak.
    policy->route_facts_.reserve(c.routes.size());
    for (const RouteConfig& r : c.routes)
        policy->route_facts_.push_back(
            {r.listed_place, r.deliver_to, r.treat_recipient_as, effective_mode(c, &r), range_rules_mode(c, &r)});
    for (const IpRangeConfig& range : c.ip_ranges) policy->ranges_by_priority_.push_back(&range);
    std::stable_sort(policy->ranges_by_priority_.begin(), policy->ranges_by_priority_.end(),
                     [](const IpRangeConfig* a, const IpRangeConfig* b) { return a->priority > b->priority; });
    if (result.errors.empty() && !result.rebuild_listed) result.policy = std::move(policy);
    return result;
}

PolicyResult compile_policy(Config config, ListedAddressUse lists) { return PolicyCompiler::compile(std::move(config), lists); }

const IpRangeConfig* Policy::range_for(const std::optional<IpAddress>& client, std::int64_t now) const {
    if (!client) return nullptr;
    for (const IpRangeConfig* range : ranges_by_priority_) {
        if (range->expired_at(now)) continue;
        for (const IpInterval& interval : range->intervals)
            if (interval.contains(*client)) return range;
    }
    return nullptr;
}

std::uint32_t Policy::route_index_for_domain(std::string_view domain, std::uint32_t domain_hash) const {
    if (domain.empty()) return UINT32_MAX;
    if (const std::uint32_t* i = exact_routes_.find(domain, domain_hash)) return *i;
    if (wildcard_routes_.size() != 0) {
        for (std::size_t dot = domain.find('.'); dot != std::string_view::npos; dot = domain.find('.', dot + 1))
            if (const std::uint32_t* i = wildcard_routes_.find(domain.substr(dot))) return *i;
    }
    return catch_all_ != nullptr ? static_cast<std::uint32_t>(catch_all_ - config_.routes.data()) : UINT32_MAX;
}

const RouteConfig* Policy::route_for_domain(std::string_view domain) const {
    const std::uint32_t i = route_index_for_domain(domain, StringIndex::key_hash(domain));
    return i == UINT32_MAX ? nullptr : &config_.routes[i];
}

bool Policy::is_listed(const RouteConfig& route, std::string_view canonical_address) const {
    return config_.listed.lists_at(route.listed_place, canonical_address);
}

AddressClass Policy::classify_sender(const NormalizedAddress& sender) const {
    if (sender.is_null() || !sender.has_domain()) return AddressClass::external;
    if (local_domains_.find(sender.domain()) != nullptr) return AddressClass::local;
    const RouteConfig* route = route_for_domain(sender.domain());
    if (route == nullptr || route->treat_sender_as != AddressClass::local) return AddressClass::external;
    if (route->deliver_to == DeliverTo::listed && !is_listed(*route, sender.text())) return AddressClass::external;
    return AddressClass::local;
}

AddressClass Policy::classify_recipient(const NormalizedAddress& recipient, const RouteConfig* route) const {
    if (!recipient.has_domain()) return AddressClass::local;  // the MTA qualifies bare names locally
    if (local_domains_.find(recipient.domain()) != nullptr) return AddressClass::local;
    if (route == nullptr || route->treat_recipient_as != AddressClass::local) return AddressClass::external;
    if (route->deliver_to == DeliverTo::listed && !is_listed(*route, recipient.text())) return AddressClass::external;
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
    facts.sender_class = sender != nullptr ? classify_sender(*sender) : AddressClass::external;
    if (sender != nullptr && written != nullptr && written->text() != sender->text() &&
        classify_sender(*written) == AddressClass::local)
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
    // Own domains first: no wildcard or "*" route takes them (routectl's maps agree).
    const std::uint32_t domain_hash = recipient.has_domain() ? StringIndex::key_hash(recipient.domain()) : 0;
    const bool own_domain = recipient.has_domain() && local_domains_.find(recipient.domain(), domain_hash) != nullptr;
    // For its own domains (and bare names) the MTA reads "a%far.test", "far.test!a" and
    // "\"a@far.test\"" as routes to far.test and relays there: never judge them as local.
    if ((own_domain || !recipient.has_domain()) && recipient.local().find_first_of("%!@") != std::string_view::npos) {
        d.rule = Rule::routed_address;
        return d;
    }
    std::uint32_t listed_hash = 0;
    const RouteFacts* facts_of_route = nullptr;
    if (recipient.has_domain() && !own_domain) {
        listed_hash = ListedAddresses::address_hash(recipient.text());
        config_.listed.prefetch(domain_hash, listed_hash);
        const std::uint32_t i = route_index_for_domain(recipient.domain(), domain_hash);
        if (i != UINT32_MAX) {
            d.route = config_.routes.data() + i;
            facts_of_route = &route_facts_[i];
        }
    }
    d.mode = facts_of_route != nullptr ? facts_of_route->mode : config_.mode;
    if (facts_of_route == nullptr && config_.scope == Scope::routes) {
        d.rule = Rule::out_of_scope;
        return d;
    }
    if (facts_of_route != nullptr && facts_of_route->deliver_to == DeliverTo::listed &&
        !config_.listed.lists_at(facts_of_route->listed_place, recipient.text(), listed_hash)) {
        d.rule = Rule::not_listed;
        return d;
    }
    // classify_recipient without a second local_domains or listed lookup (a listing route lists
    // the recipient by now): the RCPT path is bound by its hash lookups.
    const AddressClass rcpt_class = own_domain || !recipient.has_domain() ? AddressClass::local
                                    : facts_of_route != nullptr && facts_of_route->treat_recipient_as == AddressClass::local
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
    if (d.rule != Rule::no_objection) d.mode = facts_of_route != nullptr ? facts_of_route->range_mode : config_.mode;
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
