// routectl postfix: write the Postfix files that carry the routes.
#include "commands.hpp"
#include "output_files.hpp"
#include "policy_loading.hpp"
#include "route_milter/postfix/postfix_maps.hpp"
#include "run_command.hpp"

#include <sysexits.h>

#include <cctype>
#include <cstdio>

namespace route_milter {

struct PostfixOptions {
    std::string config_path;
    std::string output_dir, milter_address;
    bool postmap = false;
    std::string postfix_config;  // Postfix config directory (-c of postmap)
};

int command_postfix(const PostfixOptions& options) {
    const std::optional<Config> config = load_config_or_report(options.config_path);
    if (!config) return EX_CONFIG;
    const std::string directory = absolute_path(options.output_dir);
    PostfixMapsOptions maps_options{directory, options.milter_address, {}, {}};
    // The compiled-in version (-d): it needs no main.cf, and no setting can change it.
    std::vector<std::string> postconf{"postconf", "-d", "-h", "mail_version"};
    if (!options.postfix_config.empty()) postconf.insert(postconf.begin() + 1, {"-c", options.postfix_config});
    const CommandResult version = run_command(postconf);
    if (version.status == 0) {
        maps_options.mail_version = version.output;
        while (!maps_options.mail_version.empty() && std::isspace(static_cast<unsigned char>(maps_options.mail_version.back())))
            maps_options.mail_version.pop_back();
    } else {
        maps_options.mail_version_error = command_line(postconf) + " failed: " + version.error;
    }
    const PostfixMapsResult maps = render_postfix_maps(*config, maps_options);
    if (!maps.errors.empty()) {
        report_errors(options.config_path, maps.errors);
        return EX_CONFIG;
    }
    for (const Diagnostic& d : maps.notes) std::fprintf(stderr, "routectl: note: %s\n", format_diagnostic(d).c_str());
    std::optional<MapTool> postmap;
    if (options.postmap)
        postmap = MapTool{"postmap", [&options](const std::string& path, const RenderedFile&) {
                              std::vector<std::string> argv{"postmap"};
                              if (!options.postfix_config.empty())
                                  argv.insert(argv.end(), {"-c", options.postfix_config});
                              argv.push_back("hash:" + path);
                              const CommandResult r = run_command(argv);
                              return r.status == 0 ? std::string() : command_line(argv) + " failed: " + r.error;
                          }};
    return write_and_report(directory, maps.files, postmap);
}

const RoutectlCommand postfix_command{
    "postfix", "write the Postfix maps and main.cf/master.cf snippets that carry the routes",
    {{"output", 'o', "DIR", true}, {"postmap"}, {"postfix-config", 0, "DIR"}, {"milter", 0, "ADDRESS"}}, nullptr,
    [](const CommandArguments& a) {
        return command_postfix(PostfixOptions{a.config_path, a.value_or("output", ""), a.value_or("milter", ""),
                                              a.has("postmap"), a.value_or("postfix-config", "")});
    }};

}  // namespace route_milter
