// config_loader.hpp - reads and fully validates a route-milter configuration file.
//
// The one loader used at start-up, on reload, by `route-milter -t` and by `routectl check`.
// It never stops at the first problem: every unknown key, wrong type, bad enum, bad address,
// bad IP, overlapping range, duplicate or out-of-range value is reported as "file:line: ...".
//
// Files: the config and every file it pulls in with libconfig's `@include "name"` are opened
// and checked here (config_source.hpp) before libconfig sees a byte of them: each must be a
// regular file, all of them together at most max_config_file_bytes, that no group or other user
// may write, and one that holds a route password must not be readable by other users. The loader expands the
// @include lines itself (recognised as libconfig 1.5's scanner does: a line starting with
// `@include "name"` outside comments and strings; names relative to the main file's directory,
// nesting at most 10 deep, no cycles) and hands libconfig one checked text from memory, so a
// directory, FIFO, device or a file swapped in after the check can neither end nor block the
// process. A bad @include is reported at the file:line of the directive, naming the file.
#pragma once

#include "route_milter/config/address_file.hpp"
#include "route_milter/core/config.hpp"
#include "route_milter/core/diagnostic.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace route_milter {

struct ConfigResult {
    std::optional<Config> config;  // set only when errors is empty
    Diagnostics errors;
};

inline constexpr std::size_t max_config_file_bytes = 256u << 20;  // the config and its @includes together

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

// A big route list is given to libconfig in slices (route_list_scan.hpp): its whole tree would
// be most of the memory and time of a load. The result is the same as of a reading in one
// piece (a syntax error anywhere: the text is read again in one piece, for libconfig's report).
struct RouteSlicing {
    std::size_t text_bytes = 1 << 20;  // a smaller config is read in one piece
    std::size_t from_routes = 2000;    // so is one with fewer routes
    std::size_t routes = 1000;         // routes per slice
};

// running: the config of the policy in force (a reload). Each shard of its index whose inputs
// (its routes, their inline addresses, the files they name and those files' bytes) are the new
// ones is kept (ListedAddresses::keep_shards_of); only the others are read and built. An address
// file whose status is the one `running` read it under is not read again (address_file.hpp);
// settle_ns: how long a file must have been unchanged when read for its status to be trusted.
//
// When the config files themselves (the main file and its @includes: names, modes, bytes) are
// those `running` was read from, and `running` lists no address inline (Config::parse_reusable),
// they are not parsed again: the settings and routes are the running config's, and only the
// address files are looked at (as above). The result is the one a parse gives; ParseReuse::never
// parses whatever the running config (load_policy_file does so to report a refusal).
enum class ParseReuse { allowed, never };
ConfigDraft read_config_file(const std::string& path, RouteSlicing slicing = {}, const Config* running = nullptr,
                             std::int64_t settle_ns = address_file_settle_ns, ParseReuse reuse = ParseReuse::allowed);
ConfigDraft read_config_text(std::string_view text, const std::string& name, RouteSlicing slicing = {});

}  // namespace route_milter
