#include "route_milter/core/map_table.hpp"

#include <algorithm>

namespace route_milter {

std::string set_map_entry(MapTable& table, const std::string& key, const std::string& value, const RouteConfig& route,
                          std::string_view what, bool secret) {
    const auto [it, inserted] = table.emplace(key, MapEntry{value, route.line, route.pattern.text()});
    if (inserted || it->second.value == value) return {};
    return std::string(what) + " for " + key + " differs from the route at line " + std::to_string(it->second.line) +
           " (" + it->second.route + ")" + (secret ? "" : " (" + value + " vs " + it->second.value + ")");
}

std::string render_map_table(std::string header, MapTable&& table) {
    std::string out = std::move(header);
    while (!table.empty()) {
        const auto node = table.extract(table.begin());
        out.append(node.key()).append(1, '\t').append(node.mapped().value).append(1, '\n');
    }
    return out;
}

std::vector<std::pair<std::string, std::string>> map_table_lines(MapTable&& table) {
    std::vector<std::pair<std::string, std::string>> out;
    out.reserve(table.size());
    while (!table.empty()) {
        auto node = table.extract(table.begin());
        out.emplace_back(std::move(node.key()), std::move(node.mapped().value));
    }
    return out;
}

bool local_part_is_dot_string(std::string_view address) {
    const std::string_view local = address.substr(0, address.rfind('@'));
    return !local.empty() && local.front() != '.' && local.back() != '.' && local.find("..") == std::string_view::npos &&
           std::none_of(local.begin(), local.end(), [](char c) {
               const auto u = static_cast<unsigned char>(c);
               return u <= ' ' || u == 0x7f || std::string_view("()<>@,;:\\\"[]").find(c) != std::string_view::npos;
           });
}

long longest_route_schedule_minutes(const std::vector<RouteConfig>& routes) {
    long longest = 0;
    for (const RouteConfig& r : routes) longest = std::max(longest, static_cast<long>(r.retries) * r.retry_minutes);
    return longest;
}

long queue_lifetime_minutes(long longest_schedule_minutes) {
    constexpr long day = 24 * 60;
    return std::max(5 * day, longest_schedule_minutes + day);
}

}  // namespace route_milter
