// mail_queue.hpp - a snapshot of the MTA's mail queue, as the retry planner sees it.
//
// Filled by an MTA-specific reader (postqueue_json.hpp for Postfix); only the pending
// recipients are listed (those already delivered are gone from the queue file).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace route_milter {

struct QueuedRecipient {
    std::string address;
    std::string delay_reason;
};

struct QueuedMessage {
    std::string queue_id;
    std::string queue_name;  // "deferred", "active", "incoming", "hold", ...
    std::int64_t arrival_time = 0;  // seconds since the epoch
    std::string sender;
    bool forced_expire = false;  // postsuper -e already done
    std::vector<QueuedRecipient> recipients;
};

using QueueSnapshot = std::vector<QueuedMessage>;

}  // namespace route_milter
