#include "route_milter/core/route_pattern.hpp"

#include "route_milter/core/domain.hpp"

#include <limits>

namespace route_milter {

std::variant<RoutePattern, std::string> RoutePattern::parse(std::string_view text) {
    using R = std::variant<RoutePattern, std::string>;
    if (text == "*") return R(std::in_place_index<0>, RoutePattern(Kind::catch_all, "*"));
    const bool wildcard = text.substr(0, 2) == "*.";
    const std::string_view name = wildcard ? text.substr(2) : text;
    std::string canonical;
    if (name.find('*') != std::string_view::npos || canonical_domain(name, canonical) != DomainStatus::ok ||
        !is_host_name(canonical))
        return R(std::in_place_index<1>,
                 "not a domain name, \"*.domain\" or \"*\" (\"" + std::string(text) + "\"" + spelling_hint(name) + ")");
    if (wildcard) return R(std::in_place_index<0>, RoutePattern(Kind::wildcard, "*." + canonical));
    return R(std::in_place_index<0>, RoutePattern(Kind::exact, std::move(canonical)));
}

std::string_view RoutePattern::base() const {
    switch (kind_) {
    case Kind::exact: return text_;
    case Kind::wildcard: return std::string_view(text_).substr(2);
    case Kind::none:
    case Kind::catch_all: break;
    }
    return {};
}

std::string_view RoutePattern::suffix() const {
    return kind_ == Kind::wildcard ? std::string_view(text_).substr(1) : std::string_view();
}

bool RoutePattern::matches(std::string_view domain) const {
    switch (kind_) {
    case Kind::exact: return domain == text_;
    case Kind::wildcard: {
        const std::string_view s = suffix();
        return domain.size() > s.size() && domain.substr(domain.size() - s.size()) == s;
    }
    case Kind::catch_all: return !domain.empty();
    case Kind::none: break;
    }
    return false;
}

bool RoutePattern::matches_subdomains_of(std::string_view domain) const {
    switch (kind_) {
    case Kind::wildcard: return domain == base() || matches(domain);
    case Kind::catch_all: return !domain.empty();
    case Kind::exact:
    case Kind::none: break;
    }
    return false;
}

std::size_t RoutePattern::specificity() const {
    switch (kind_) {
    case Kind::exact: return std::numeric_limits<std::size_t>::max();
    case Kind::wildcard: return 2 + text_.size();
    case Kind::catch_all: return 1;
    case Kind::none: break;
    }
    return 0;
}

}  // namespace route_milter
