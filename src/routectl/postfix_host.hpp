// postfix_host.hpp - what routectl postfix and routectl apply share: asking the host's Postfix
// (postconf) what its tables must look like, and rendering the maps for it.
#pragma once

#include "route_milter/core/config.hpp"
#include "route_milter/postfix/postfix_maps.hpp"
#include "output_files.hpp"

#include <optional>
#include <string>
#include <vector>

namespace route_milter {

struct PostfixOptions {
    std::string config_path;
    std::string output_dir, milter_address;
    bool postmap = false;
    std::string postfix_config;  // Postfix config directory (-c of postconf and postmap)
    std::string database_type;   // "": Postfix's default_database_type
    std::vector<std::string> kept_relay_domains;  // PostfixMapsOptions::kept_relay_domains
};

// What the tables depend on in the Postfix that reads them.
struct PostfixSettings {
    std::string database_type;  // default_database_type
    bool utf8 = true;           // smtputf8_enable: how it folds keys, whether it takes non-UTF-8 ones
};

struct PostfixHost {
    std::string directory;  // the maps' absolute directory
    PostfixSettings settings;
    PostfixTableType type{};
    std::optional<Config> config;  // the maps' relay_recipients generator reads it
};

// "postconf [-c DIR] ARGS...".
std::vector<std::string> postconf_command(const PostfixOptions& options, std::vector<std::string> arguments);
// A command's output as lines, trailing blanks dropped.
std::vector<std::string> output_lines(const std::string& output);
// Asks postconf, loads the config and renders the maps; nullopt after reporting, with `status`
// the exit status.
std::optional<PostfixMapsResult> render_for_host(const PostfixOptions& options, PostfixHost& host, int& status);
// How the keyed tables become what Postfix opens (written here, or postmap with options.postmap).
std::optional<MapTool> table_tool(const PostfixOptions& options, PostfixTableType type, bool utf8);

}  // namespace route_milter
