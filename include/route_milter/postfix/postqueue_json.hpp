// postqueue_json.hpp - reads `postqueue -j` output (one JSON object per line) into a snapshot.
#pragma once

#include "route_milter/core/mail_queue.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace route_milter {

struct QueueParseResult {
    QueueSnapshot messages;
    std::vector<std::string> errors;  // "line N: ..." for lines that could not be read (skipped)
};

QueueParseResult parse_postqueue_json(std::string_view text);

}  // namespace route_milter
