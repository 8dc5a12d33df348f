// routectl postfix: write the Postfix files that carry the routes.
#include "commands.hpp"
#include "output_files.hpp"
#include "policy_loading.hpp"
#include "route_milter/postfix/postfix_tables.hpp"
#include "route_milter/postfix/postfix_maps.hpp"
#include "postfix_host.hpp"
#include "run_command.hpp"

#include <sysexits.h>

#include <cctype>
#include <cstdio>

namespace route_milter {

std::vector<std::string> postconf_command(const PostfixOptions& options, std::vector<std::string> arguments) {
    std::vector<std::string> argv{"postconf"};
    if (!options.postfix_config.empty()) argv.insert(argv.end(), {"-c", options.postfix_config});
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return argv;
}

std::vector<std::string> output_lines(const std::string& output) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t end; (end = output.find('\n', start)) != std::string::npos; start = end + 1)
        lines.push_back(output.substr(start, end - start));
    if (start < output.size()) lines.push_back(output.substr(start));
    for (std::string& line : lines)
        while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    return lines;
}

namespace {

// Asks postconf: its main.cf's values, or without --postfix-config and main.cf (Postfix not set
// up yet) Postfix's compiled-in defaults, which it would then use (a note says so). nullopt
// and `error` when postconf cannot tell.
std::optional<PostfixSettings> postfix_settings(const PostfixOptions& options, std::string& error) {
    const std::vector<std::string> names{"default_database_type", "smtputf8_enable"};
    const auto ask = [&](std::vector<std::string> flags) {
        std::vector<std::string> argv = postconf_command(options, std::move(flags));
        argv.insert(argv.end(), names.begin(), names.end());
        return argv;
    };
    const std::vector<std::string> argv = ask({"-x", "-h"});
    CommandResult r = run_command(argv);
    const std::vector<std::string> why = output_lines(r.error);
    error = command_line(argv) + " failed: " + (why.empty() ? "exit " + std::to_string(r.status) : why.back());
    if (r.status != 0 && options.postfix_config.empty()) {
        const CommandResult defaults = run_command(ask({"-d", "-x", "-h"}));
        if (defaults.status == 0) {
            std::fprintf(stderr, "routectl: note: %s: Postfix's compiled-in defaults are used\n", error.c_str());
            r = defaults;
        }
    }
    if (r.status != 0) return std::nullopt;
    const std::vector<std::string> values = output_lines(r.output);
    if (values.size() != names.size()) {
        error = command_line(argv) + " gave " + std::to_string(values.size()) + " lines, not " + std::to_string(names.size());
        return std::nullopt;
    }
    return PostfixSettings{values[0], values[1] != "no"};
}

// The tables' type: --database-type, else Postfix's default_database_type; EX_OK or the exit status.
int table_type(const PostfixOptions& options, const std::optional<PostfixSettings>& settings, PostfixTableType& type) {
    const bool given = !options.database_type.empty();
    const std::string& name = given ? options.database_type : settings->database_type;
    if (const std::optional<PostfixTableType> known = postfix_table_type_names.code(name)) {
        type = *known;
        return EX_OK;
    }
    if (given) {
        std::fprintf(stderr, "routectl: --database-type %s: give %s\n", name.c_str(),
                     postfix_table_type_names.choices(" or ").c_str());
        return EX_USAGE;
    }
    std::fprintf(stderr, "routectl: Postfix's default_database_type is %s; routectl writes %s tables: give --database-type\n",
                 name.c_str(), postfix_table_type_names.choices(" or ").c_str());
    return EX_CONFIG;
}

}  // namespace

// How the keyed tables become what Postfix opens: cdb and lmdb written here, hash by postmap
// (with --postmap; without, the admin runs it).
std::optional<MapTool> table_tool(const PostfixOptions& options, PostfixTableType type, bool utf8) {
    const std::string suffix(postfix_table_suffix(type));
    if (type != PostfixTableType::hash)
        return MapTool{"written", suffix, [type, utf8, suffix](const std::string& path, const RenderedFile& file) {
                           std::vector<std::string> warnings;
                           const std::string error = write_postfix_table(type, path, path + suffix, utf8, warnings);
                           for (const std::string& w : warnings)
                               std::fprintf(stderr, "routectl: warning: %s, %s\n", file.name.c_str(), w.c_str());
                           return error;
                       }};
    if (!options.postmap) return std::nullopt;
    return MapTool{"postmap", suffix, [&options, type](const std::string& path, const RenderedFile&) {
                       std::vector<std::string> argv{"postmap"};
                       if (!options.postfix_config.empty()) argv.insert(argv.end(), {"-c", options.postfix_config});
                       argv.push_back(std::string(postfix_table_type_names.name(type)) + ":" + path);
                       const CommandResult r = run_command(argv);
                       return r.status == 0 ? std::string() : command_line(argv) + " failed: " + r.error;
                   }};
}

std::optional<PostfixMapsResult> render_for_host(const PostfixOptions& options, PostfixHost& host, int& status) {
    // Postfix is asked first: a wrong --postfix-config is told before the config is loaded.
    std::string postconf_error;
    std::optional<PostfixSettings> settings = postfix_settings(options, postconf_error);
    if (!settings && options.database_type.empty()) {
        std::fprintf(stderr, "routectl: cannot tell Postfix's default_database_type (%s): give --database-type\n",
                     postconf_error.c_str());
        status = EX_UNAVAILABLE;
        return std::nullopt;
    }
    if (!settings) {
        std::fprintf(stderr, "routectl: note: %s: keys are folded as with smtputf8_enable = yes, Postfix's default\n",
                     postconf_error.c_str());
        settings = PostfixSettings{options.database_type, true};
    }
    PostfixTableType type{};
    if ((status = table_type(options, settings, type)) != EX_OK) return std::nullopt;
    host.directory = absolute_path(options.output_dir);
    host.settings = *settings;
    host.type = type;
    PostfixMapsOptions maps_options{host.directory, options.milter_address, {}, {}, type, options.kept_relay_domains};
    // The compiled-in version (-d): it needs no main.cf, and no setting can change it.
    const std::vector<std::string> postconf = postconf_command(options, {"-d", "-h", "mail_version"});
    const CommandResult version = run_command(postconf);
    if (version.status == 0) {
        maps_options.mail_version = version.output;
        while (!maps_options.mail_version.empty() && std::isspace(static_cast<unsigned char>(maps_options.mail_version.back())))
            maps_options.mail_version.pop_back();
    } else {
        maps_options.mail_version_error = command_line(postconf) + " failed: " + version.error;
    }
    host.config = load_config_or_report(options.config_path);
    if (!host.config) {
        status = EX_CONFIG;
        return std::nullopt;
    }
    PostfixMapsResult maps = render_postfix_maps(*host.config, maps_options);
    if (!maps.errors.empty()) {
        report_errors(options.config_path, maps.errors);
        status = EX_CONFIG;
        return std::nullopt;
    }
    for (const Diagnostic& d : maps.notes) std::fprintf(stderr, "routectl: note: %s\n", format_diagnostic(d).c_str());
    status = EX_OK;
    return maps;
}

namespace {

int command_postfix(const PostfixOptions& options) {
    PostfixHost host;
    int status = EX_OK;
    const std::optional<PostfixMapsResult> maps = render_for_host(options, host, status);
    if (!maps) return status;
    return write_and_report(host.directory, maps->files, table_tool(options, host.type, host.settings.utf8));
}

}  // namespace

const RoutectlCommand postfix_command{
    "postfix", "write the Postfix tables and main.cf/master.cf snippets that carry the routes",
    {{"output", 'o', "DIR", true, "write the tables and snippets into DIR (created if needed)"},
     {"database-type", 0, "TYPE", false, "cdb, lmdb or hash instead of Postfix's default_database_type"},
     {"postmap", 0, nullptr, false, "compile hash tables with postmap(1)"},
     {"postfix-config", 0, "DIR", false, "Postfix's configuration directory (postconf -c DIR)"},
     {"milter", 0, "ADDRESS", false, "the smtpd_milters value to write (default: from milter.socket)"}},
    nullptr,
    [](const CommandArguments& a) {
        return command_postfix(PostfixOptions{a.config_path, a.value_or("output", ""), a.value_or("milter", ""),
                                              a.has("postmap"), a.value_or("postfix-config", ""),
                                              a.value_or("database-type", ""), {}});
    }};

}  // namespace route_milter
