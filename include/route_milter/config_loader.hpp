// config_loader.hpp - reads and fully validates a route-milter configuration file.
//
// The one loader used at start-up, on reload, by `route-milter -t` and by `routectl check`.
// It never stops at the first problem: every unknown key, wrong type, bad enum, bad address,
// bad IP, overlapping range, duplicate or out-of-range value is reported as "file:line: ...".
// A config holding passwords that other users can read is refused (file check only).
#pragma once

#include "route_milter/config.hpp"
#include "route_milter/diagnostic.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace route_milter {

struct ConfigResult {
    std::optional<Config> config;  // set only when errors is empty
    Diagnostics errors;
};

ConfigResult load_config_file(const std::string& path);

// Same validation on text in memory (tests, fuzzing); `name` stands for the file in messages.
ConfigResult load_config_text(std::string_view text, const std::string& name);

}  // namespace route_milter
