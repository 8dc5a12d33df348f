// config_loader.hpp - reads and fully validates a route-milter configuration file.
//
// The one loader used at start-up, on reload, by `route-milter -t` and by `routectl check`.
// It never stops at the first problem: every unknown key, wrong type, bad enum, bad address,
// bad IP, overlapping range, duplicate or out-of-range value is reported as "file:line: ...".
//
// Files: the config and every file it pulls in with libconfig's `@include "name"` are opened
// and checked here (config_source.hpp) before libconfig sees a byte of them: each must be a
// regular file, all of them together at most max_config_file_bytes (config_source.hpp), that no
// group or other user may write, and one that holds a route password must not be readable by
// other users. The loader expands the @include lines itself (recognised as libconfig 1.5's scanner does: a line starting with
// `@include "name"` outside comments and strings; names relative to the main file's directory,
// nesting at most 10 deep, no cycles) and hands libconfig one checked text from memory, so a
// directory, FIFO, device or a file swapped in after the check can neither end nor block the
// process. A bad @include is reported at the file:line of the directive, naming the file.
// Every load reads every file afresh; Config::sources records each one's identity as opened.
#pragma once

#include "route_milter/core/config.hpp"
#include "route_milter/core/diagnostic.hpp"

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
// Its @include names are relative to the working directory.
ConfigResult load_config_text(std::string_view text, const std::string& name);

// What the loader read, accepted or not: the settings that passed their own checks even when
// others failed, so that the policy compiler can add its checks (duplicate listed addresses...)
// to the same report without a second copy of the config. `config` is meaningful only when
// `parsed` (the files were read and their syntax is valid).
struct ConfigDraft {
    Config config;
    Diagnostics errors;  // sorted by file and line
    bool parsed = false;
};

ConfigDraft read_config_file(const std::string& path);
ConfigDraft read_config_text(std::string_view text, const std::string& name);

}  // namespace route_milter
