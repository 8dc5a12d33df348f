// routectl postfix: write the Postfix files that carry the routes.
#include "commands.hpp"
#include "output_files.hpp"
#include "policy_loading.hpp"
#include "route_milter/postfix_maps.hpp"
#include "run_command.hpp"

#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>

namespace route_milter {
namespace {

std::string absolute(const std::string& path) {
    if (!path.empty() && path.front() == '/') return path;
    char cwd[PATH_MAX];
    return ::getcwd(cwd, sizeof cwd) != nullptr ? std::string(cwd) + "/" + path : path;
}

// postmap only where the table changed or its .db is missing or older: reruns touch nothing.
bool needs_postmap(const std::string& path, bool changed) {
    struct stat source {}, db {};
    if (changed || ::stat((path + ".db").c_str(), &db) != 0 || ::stat(path.c_str(), &source) != 0) return true;
    return db.st_mtim.tv_sec < source.st_mtim.tv_sec ||
           (db.st_mtim.tv_sec == source.st_mtim.tv_sec && db.st_mtim.tv_nsec < source.st_mtim.tv_nsec);
}

}  // namespace

int command_postfix(const RoutectlOptions& options) {
    ConfigResult loaded = load_config_file(options.config_path);
    if (!loaded.config) {
        report_errors(options.config_path, loaded.errors);
        return EX_CONFIG;
    }
    // The whole-table checks (duplicate addresses, ...) live in the policy compiler.
    const PolicyResult compiled = compile_policy(*loaded.config);
    if (!compiled.policy) {
        report_errors(options.config_path, compiled.errors);
        return EX_CONFIG;
    }
    const std::string directory = absolute(options.output_dir);
    const PostfixMapsResult maps =
        render_postfix_maps(*loaded.config, PostfixMapsOptions{directory, options.milter_address});
    if (!maps.errors.empty()) {
        report_errors(options.config_path, maps.errors);
        return EX_CONFIG;
    }
    const WriteResult written = write_files_atomically(directory, maps.files);
    if (!written.error.empty()) {
        std::fprintf(stderr, "routectl: %s; no file in %s was changed\n", written.error.c_str(), directory.c_str());
        return EX_CANTCREAT;
    }
    for (const RenderedFile& f : maps.files) {
        const bool changed = std::find(written.changed.begin(), written.changed.end(), f.name) != written.changed.end();
        std::printf("%-26s %s\n", f.name.c_str(), changed ? "written" : "unchanged");
    }
    if (!options.postmap) return EX_OK;
    for (const RenderedFile& f : maps.files) {
        if (!f.postmap) continue;
        const std::string path = directory + "/" + f.name;
        const bool changed = std::find(written.changed.begin(), written.changed.end(), f.name) != written.changed.end();
        if (!needs_postmap(path, changed)) continue;
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
