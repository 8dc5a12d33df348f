#include "route_milter/core/route_table.hpp"

namespace route_milter {

RouteTable::RouteTable(const Config& config) : config_(&config) {
    exact_.reserve(config.routes.size());
    for (std::uint32_t i = 0; i < config.routes.size(); ++i) {
        const RoutePattern& p = config.routes[i].pattern;
        switch (p.kind()) {
        case RoutePattern::Kind::catch_all: catch_all_ = i; break;
        case RoutePattern::Kind::wildcard: wildcard_.insert(p.suffix(), i); break;
        case RoutePattern::Kind::exact: exact_.insert(p.text(), i); break;
        case RoutePattern::Kind::none: break;  // a hand-made Config: the route matches nothing
        }
    }
    for (const std::string& d : config.local_domains) local_domains_.insert(d, 0);
}

std::uint32_t RouteTable::index_for_domain(std::string_view domain) const {
    if (domain.empty()) return none;
    if (const std::uint32_t* i = exact_.find(domain)) return *i;
    for (std::size_t dot = domain.find('.'); dot != std::string_view::npos; dot = domain.find('.', dot + 1))
        if (const std::uint32_t* i = wildcard_.find(domain.substr(dot))) return *i;
    return catch_all_;
}

}  // namespace route_milter
