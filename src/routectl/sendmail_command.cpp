// routectl sendmail: write the Sendmail files that carry the routes.
#include "commands.hpp"
#include "output_files.hpp"
#include "policy_loading.hpp"
#include "route_milter/sendmail/sendmail_maps.hpp"
#include "route_milter/sendmail/sendmail_steps.hpp"
#include "run_command.hpp"

#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>

namespace route_milter {

struct SendmailOptions {
    std::string config_path;
    std::string output_dir, milter_address;
    bool makemap = false;
    std::string sendmail_config;  // sendmail.cf: -C of makemap
    std::string queue_dir;        // Sendmail's QueueDirectory, for the queue groups
};
namespace {

// makemap reads the map from stdin; the shell only redirects it (the path is an argument, never
// part of the script). A map with mode 0600 gets a .db nobody else can read either.
std::vector<std::string> makemap_command(const SendmailOptions& o, const std::string& path, unsigned mode) {
    const std::string script = std::string(mode == 0600 ? "umask 077; " : "umask 022; ") +
                               "exec makemap ${1:+-C \"$1\"} hash \"$2\" < \"$2\"";
    return {"/bin/sh", "-c", script, "makemap", o.sendmail_config, path};
}

}  // namespace

int command_sendmail(const SendmailOptions& options) {
    const std::optional<Config> config = load_config_or_report(options.config_path);
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
    std::optional<MapTool> makemap;
    if (options.makemap)
        makemap = MapTool{"makemap", ".db", [&options](const std::string& path, const RenderedFile& f) {
                              const CommandResult r = run_command(makemap_command(options, path, f.mode));
                              if (r.status != 0) return "makemap hash " + path + " failed: " + r.output + r.error;
                              ::chmod((path + ".db").c_str(), f.mode);
                              return std::string();
                          }};
    if (const int status = write_and_report(directory, maps.files, makemap); status != EX_OK) return status;
    SendmailSteps steps;
    steps.output_dir = directory;
    steps.files = &maps.files;
    steps.sendmail_config = absolute_path(options.sendmail_config.empty() ? default_sendmail_config : options.sendmail_config);
    steps.makemap_config = options.sendmail_config.empty() ? "" : absolute_path(options.sendmail_config);
    steps.maps_compiled = options.makemap;
    if (std::ifstream cf(steps.sendmail_config); cf)
        steps.pid_file = sendmail_pid_file(std::string(std::istreambuf_iterator<char>(cf), {}));
    for (const SendmailQueueGroup& g : maps.queue_groups) {
        struct stat st {};
        if (::stat(g.directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) steps.missing_directories.push_back(g.directory);
    }
    std::fputs(render_sendmail_steps(steps).c_str(), stdout);
    return EX_OK;
}

const RoutectlCommand sendmail_command{
    "sendmail", "write the Sendmail maps and sendmail.mc snippet of the routes, and print how to apply them",
    {{"output", 'o', "DIR", true, "write the maps and the sendmail.mc snippet into DIR (created if needed)"},
     {"makemap", 0, nullptr, false, "compile the hash maps with makemap(8) (needs --sendmail-config)"},
     {"sendmail-config", 0, "FILE", false, "Sendmail's sendmail.cf (default /etc/mail/sendmail.cf)"},
     {"queue-dir", 0, "DIR", false, "Sendmail's queue directory for the routes' queue groups (default /var/spool/mqueue)"},
     {"milter", 0, "ADDRESS", false, "the INPUT_MAIL_FILTER socket to write (default: from milter.socket)"}},
    nullptr,
    [](const CommandArguments& a) {
        return command_sendmail(SendmailOptions{a.config_path, a.value_or("output", ""), a.value_or("milter", ""),
                                                a.has("makemap"), a.value_or("sendmail-config", ""),
                                                a.value_or("queue-dir", "")});
    }};

}  // namespace route_milter
