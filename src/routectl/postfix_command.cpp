// routectl postfix: write the Postfix files that carry the routes.
#include "commands.hpp"
#include "output_files.hpp"
#include "policy_loading.hpp"
#include "route_milter/postfix/postfix_maps.hpp"
#include "run_command.hpp"

#include <sysexits.h>

#include <cstdio>

namespace route_milter {

int command_postfix(const RoutectlOptions& options) {
    const std::optional<Config> config = load_checked_config(options.config_path);
    if (!config) return EX_CONFIG;
    const std::string directory = absolute_path(options.output_dir);
    const PostfixMapsResult maps = render_postfix_maps(*config, PostfixMapsOptions{directory, options.milter_address});
    if (!maps.errors.empty()) {
        report_errors(options.config_path, maps.errors);
        return EX_CONFIG;
    }
    for (const Diagnostic& d : maps.notes) std::fprintf(stderr, "routectl: note: %s\n", format_diagnostic(d).c_str());
    WriteResult written;
    if (!write_and_report(directory, maps.files, written)) return EX_CANTCREAT;
    if (!options.postmap) return EX_OK;
    for (const RenderedFile& f : maps.files) {
        if (!f.compile_map) continue;
        const std::string path = directory + "/" + f.name;
        if (!table_needs_rebuild(path, written, f.name)) continue;
        std::vector<std::string> argv{"postmap"};
        if (!options.postfix_config.empty()) argv.insert(argv.end(), {"-c", options.postfix_config});
        argv.push_back("hash:" + path);
        const CommandResult r = run_command(argv);
        if (r.status != 0) {
            std::fprintf(stderr, "routectl: %s failed: %s\n", command_line(argv).c_str(), r.error.c_str());
            return EX_SOFTWARE;
        }
        std::printf("%-26s postmap\n", (f.name + ".db").c_str());
    }
    return EX_OK;
}

}  // namespace route_milter
