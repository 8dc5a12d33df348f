// route_table.hpp - a Config's routes by domain, for the tools that hold the whole Config.
//
// The compiler checks listed addresses against it, `routectl retry` finds a message's route in
// it and the renderers use it; the daemon looks routes up in the policy image instead
// (policy.hpp). Same rule both ways: exact, then the longest "*.suffix", then "*"; this
// server's own domains (local_domains) take no route.
#pragma once

#include "route_milter/core/config.hpp"
#include "route_milter/core/string_index.hpp"

#include <cstdint>
#include <string_view>

namespace route_milter {

class RouteTable {
public:
    explicit RouteTable(const Config& config);

    static constexpr std::uint32_t none = UINT32_MAX;
    // The index of the route for a canonical domain, or none.
    std::uint32_t index_for_domain(std::string_view domain) const;
    const RouteConfig* route_for_domain(std::string_view domain) const {
        const std::uint32_t i = index_for_domain(domain);
        return i == none ? nullptr : &config_->routes[i];
    }
    bool is_local_domain(std::string_view domain) const { return local_domains_.find(domain) != nullptr; }

private:
    const Config* config_;
    StringIndex exact_;     // "example.com" -> route index
    StringIndex wildcard_;  // ".example.com" (from "*.example.com") -> route index
    std::uint32_t catch_all_ = none;
    StringIndex local_domains_;
};

}  // namespace route_milter
