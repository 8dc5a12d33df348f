// routectl sendmail: write the Sendmail files that carry the routes.
#include "commands.hpp"
#include "output_files.hpp"
#include "policy_loading.hpp"
#include "route_milter/sendmail/sendmail_maps.hpp"
#include "run_command.hpp"

#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>

namespace route_milter {
namespace {

// makemap reads the map from stdin; the shell only redirects it (the path is an argument, never
// part of the script). A map with mode 0600 gets a .db nobody else can read either.
std::vector<std::string> makemap_command(const RoutectlOptions& o, const std::string& path, unsigned mode) {
    const std::string script = std::string(mode == 0600 ? "umask 077; " : "umask 022; ") +
                               "exec makemap ${1:+-C \"$1\"} hash \"$2\" < \"$2\"";
    return {"/bin/sh", "-c", script, "makemap", o.sendmail_config, path};
}

}  // namespace

int command_sendmail(const RoutectlOptions& options) {
    const std::optional<Config> config = load_checked_config(options.config_path);
    if (!config) return EX_CONFIG;
    const std::string directory = absolute_path(options.output_dir);
    SendmailMapsOptions maps_options;
    maps_options.output_dir = directory;
    if (!options.queue_dir.empty()) maps_options.queue_dir = absolute_path(options.queue_dir);
    maps_options.milter_socket = options.milter_address;
    const SendmailMapsResult maps = render_sendmail_maps(*config, maps_options);
    if (!maps.errors.empty()) {
        report_errors(options.config_path, maps.errors);
        return EX_CONFIG;
    }
    WriteResult written;
    if (!write_and_report(directory, maps.files, written)) return EX_CANTCREAT;
    for (const SendmailQueueGroup& g : maps.queue_groups) {
        struct stat st {};
        if (::stat(g.directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
            std::fprintf(stderr, "routectl: note: queue group %s (route %s) needs the directory %s: create it "
                                 "(install -d -m 0700 %s) before sendmail reads the new sendmail.cf\n",
                         g.name.c_str(), g.route->domain.c_str(), g.directory.c_str(), g.directory.c_str());
    }
    if (!options.makemap) return EX_OK;
    for (const RenderedFile& f : maps.files) {
        if (!f.compile_map) continue;
        const std::string path = directory + "/" + f.name;
        if (!table_needs_rebuild(path, written, f.name)) continue;
        const std::vector<std::string> argv = makemap_command(options, path, f.mode);
        const CommandResult r = run_command(argv);
        if (r.status != 0) {
            std::fprintf(stderr, "routectl: makemap hash %s failed: %s%s\n", path.c_str(), r.output.c_str(),
                         r.error.c_str());
            return EX_SOFTWARE;
        }
        ::chmod((path + ".db").c_str(), f.mode);
        std::printf("%-26s makemap\n", (f.name + ".db").c_str());
    }
    return EX_OK;
}

}  // namespace route_milter
