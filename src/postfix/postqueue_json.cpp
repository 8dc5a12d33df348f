#include "route_milter/postfix/postqueue_json.hpp"

#include <nlohmann/json.hpp>

namespace route_milter {

QueueParseResult parse_postqueue_json(std::string_view text) {
    QueueParseResult result;
    std::size_t line_number = 0;
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        const std::string_view line = text.substr(0, end);
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
        ++line_number;
        if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
        try {
            const nlohmann::json j = nlohmann::json::parse(line);
            QueuedMessage m;
            m.queue_id = j.at("queue_id").get<std::string>();
            m.queue_name = j.at("queue_name").get<std::string>();
            m.arrival_time = j.at("arrival_time").get<std::int64_t>();
            m.sender = j.value("sender", std::string());
            m.forced_expire = j.value("forced_expire", false);
            for (const auto& r : j.at("recipients"))
                m.recipients.push_back({r.at("address").get<std::string>(), r.value("delay_reason", std::string())});
            result.messages.push_back(std::move(m));
        } catch (const nlohmann::json::exception& e) {
            result.errors.push_back("line " + std::to_string(line_number) + ": " + e.what());
        }
    }
    return result;
}

}  // namespace route_milter
