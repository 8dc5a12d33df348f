#include "route_milter/policy.hpp"

#include "route_milter/config_loader.hpp"

#include <algorithm>

namespace route_milter {

struct PolicyCompiler {
    static PolicyResult compile(Config config);
};

PolicyResult PolicyCompiler::compile(Config config) {
    PolicyResult result;
    auto policy = std::make_shared<Policy>();
    policy->config_ = std::move(config);
    Config& c = policy->config_;
    const auto error = [&](unsigned line, std::string message) {
        result.errors.push_back({c.file, line, std::move(message)});
    };

    std::size_t address_count = 0;
    for (const RouteConfig& r : c.routes) address_count += r.addresses.size();
    policy->addresses_.reserve(address_count);
    policy->exact_routes_.reserve(c.routes.size());
    policy->listed_counts_.assign(c.routes.size(), 0);

    for (std::size_t i = 0; i < c.routes.size(); ++i) {
        RouteConfig& r = c.routes[i];
        const auto index = static_cast<std::uint32_t>(i);
        if (r.domain == "*") policy->catch_all_ = &r;
        else if (r.domain.rfind("*.", 0) == 0) policy->wildcard_routes_.insert(std::string_view(r.domain).substr(1), index);
        else policy->exact_routes_.insert(r.domain, index);
    }
    for (std::size_t i = 0; i < c.routes.size(); ++i) {
        RouteConfig& r = c.routes[i];
        const bool wildcard = r.domain.find('*') != std::string::npos;
        for (const ListedAddress& a : r.addresses) {
            if (const std::uint32_t* first = policy->addresses_.insert(a.address, static_cast<std::uint32_t>(i))) {
                const RouteConfig& other = c.routes[*first];
                error(a.line, "routes: address listed twice, also under " + other.domain + " (line " +
                                  std::to_string(other.line) + ") (\"" + a.address + "\")");
                continue;
            }
            ++policy->listed_counts_[i];
            if (!wildcard) continue;
            const RouteConfig* owner = policy->route_for_domain(std::string_view(a.address).substr(a.address.rfind('@') + 1));
            if (owner != &r)
                error(a.line, "routes: address is listed under " + r.domain + " but route " + owner->domain + " (line " +
                                  std::to_string(owner->line) + ") takes its domain (\"" + a.address + "\")");
        }
        r.addresses.clear();
        r.addresses.shrink_to_fit();
    }
    for (const std::string& d : c.local_domains) policy->local_domains_.insert(d, 0);
    for (const IpRangeConfig& range : c.ip_ranges) policy->ranges_by_priority_.push_back(&range);
    std::stable_sort(policy->ranges_by_priority_.begin(), policy->ranges_by_priority_.end(),
                     [](const IpRangeConfig* a, const IpRangeConfig* b) { return a->priority > b->priority; });
    if (result.errors.empty()) result.policy = std::move(policy);
    return result;
}

PolicyResult compile_policy(Config config) { return PolicyCompiler::compile(std::move(config)); }

namespace {
PolicyResult compile_loaded(ConfigResult loaded) {
    if (!loaded.config) return PolicyResult{nullptr, std::move(loaded.errors)};
    return compile_policy(std::move(*loaded.config));
}
}  // namespace

PolicyResult load_policy_file(const std::string& path) { return compile_loaded(load_config_file(path)); }

PolicyResult load_policy_text(std::string_view text, const std::string& name) {
    return compile_loaded(load_config_text(text, name));
}

const IpRangeConfig* Policy::range_for(const std::optional<IpAddress>& client) const {
    if (!client) return nullptr;
    for (const IpRangeConfig* range : ranges_by_priority_)
        for (const IpInterval& interval : range->intervals)
            if (interval.contains(*client)) return range;
    return nullptr;
}

const RouteConfig* Policy::route_for_domain(std::string_view domain) const {
    if (domain.empty()) return nullptr;
    if (const std::uint32_t* i = exact_routes_.find(domain)) return &config_.routes[*i];
    if (wildcard_routes_.size() != 0) {
        for (std::size_t dot = domain.find('.'); dot != std::string_view::npos; dot = domain.find('.', dot + 1))
            if (const std::uint32_t* i = wildcard_routes_.find(domain.substr(dot))) return &config_.routes[*i];
    }
    return catch_all_;
}

bool Policy::is_listed(const RouteConfig& route, std::string_view canonical_address) const {
    const std::uint32_t* i = addresses_.find(canonical_address);
    return i != nullptr && &config_.routes[*i] == &route;
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

MessageFacts Policy::message_facts(const std::optional<IpAddress>& client, bool authenticated,
                                   const NormalizedAddress* sender) const {
    MessageFacts facts;
    facts.range = range_for(client);
    facts.authenticated = authenticated;
    facts.sender_class = sender != nullptr ? classify_sender(*sender) : AddressClass::external;
    return facts;
}

Decision Policy::decide_recipient(const MessageFacts& facts, const NormalizedAddress& recipient) const {
    Decision d;
    d.range = facts.range;
    d.route = recipient.has_domain() ? route_for_domain(recipient.domain()) : nullptr;
    if (d.route == nullptr && config_.scope == Scope::routes) {
        d.rule = Rule::out_of_scope;
        return d;
    }
    if (d.route != nullptr && d.route->deliver_to == DeliverTo::listed && !is_listed(*d.route, recipient.text())) {
        d.rule = Rule::not_listed;
        return d;
    }
    d.delivery_class = delivery_class(facts.sender_class, classify_recipient(recipient, d.route));
    if (facts.range == nullptr || !facts.range->allow.contains(d.delivery_class)) d.rule = Rule::not_allowed;
    else if (facts.range->require_auth.contains(d.delivery_class) && !facts.authenticated) d.rule = Rule::auth_required;
    else d.rule = Rule::accepted;
    return d;
}

Decision Policy::decide(const Query& query) const {
    NormalizedAddress sender;
    NormalizedAddress recipient;
    const bool sender_ok = parse_address(query.sender, sender) == AddressStatus::ok;
    const MessageFacts facts = message_facts(query.client, query.authenticated, sender_ok ? &sender : nullptr);
    if (parse_address(query.recipient, recipient) != AddressStatus::ok) {
        Decision d;
        d.rule = Rule::bad_address;
        d.range = facts.range;
        return d;
    }
    return decide_recipient(facts, recipient);
}

}  // namespace route_milter
