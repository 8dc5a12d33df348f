#include "route_milter/core/retry_state.hpp"

#include <nlohmann/json.hpp>

namespace route_milter {

std::string serialize_retry_state(const RetryState& state) {
    nlohmann::json messages = nlohmann::json::object();
    for (const auto& [id, r] : state)
        messages[id] = {{"arrival_time", r.arrival_time}, {"attempts", r.attempts}, {"last_attempt", r.last_attempt}};
    return nlohmann::json{{"version", 1}, {"messages", messages}}.dump(1) + "\n";
}

std::optional<RetryState> parse_retry_state(std::string_view text) {
    try {
        const nlohmann::json j = nlohmann::json::parse(text);
        if (j.at("version").get<int>() != 1) return std::nullopt;
        RetryState state;
        for (const auto& [id, r] : j.at("messages").items()) {
            RetryRecord record{r.at("arrival_time").get<std::int64_t>(), r.at("attempts").get<int>(),
                               r.at("last_attempt").get<std::int64_t>()};
            if (record.attempts < 0) return std::nullopt;
            state.emplace(id, record);
        }
        return state;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    }
}

}  // namespace route_milter
