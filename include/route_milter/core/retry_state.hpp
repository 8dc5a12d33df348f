// retry_state.hpp - what `routectl retry` remembers between runs: the attempts it made.
//
// Kept small (one record per deferred message of a route) and serialised as JSON. A lost or
// unreadable state only means the planner starts counting again: it never expires early.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace route_milter {

struct RetryRecord {
    std::int64_t arrival_time = 0;  // with the queue id, identifies the message
    int attempts = 0;               // attempts scheduled by routectl retry
    std::int64_t last_attempt = 0;  // when the last one was scheduled; 0 = none yet
    friend bool operator==(const RetryRecord&, const RetryRecord&) = default;
};

using RetryState = std::map<std::string, RetryRecord>;  // by queue id

std::string serialize_retry_state(const RetryState& state);

// nullopt when the text is not a state file this version wrote.
std::optional<RetryState> parse_retry_state(std::string_view text);

}  // namespace route_milter
