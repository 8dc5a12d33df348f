// routectl apply: write the Postfix tables and merge the routes' settings into the Postfix
// that runs here, keeping everything the admin had.
#include "commands.hpp"
#include "output_files.hpp"
#include "postfix_host.hpp"
#include "run_command.hpp"
#include "route_milter/core/domain.hpp"
#include "route_milter/core/route_table.hpp"
#include "route_milter/postfix/main_cf_merge.hpp"

#include <sysexits.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace route_milter {
namespace {

constexpr const char* applied_record = "main.cf.applied";  // in the maps' directory

struct ApplyOptions {
    PostfixOptions postfix;
    bool dry_run = false;
};

std::map<std::string, std::string> parse_settings(const std::vector<std::string>& lines) {
    std::map<std::string, std::string> out;
    for (const std::string& line : lines) {
        const std::size_t eq = line.find(" = ");
        if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 3);
        else if (line.size() > 2 && line.compare(line.size() - 2, 2, " =") == 0) out[line.substr(0, line.size() - 2)] = "";
    }
    return out;
}

bool read_file(const std::string& path, std::string& text) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    std::ostringstream s;
    s << in.rdbuf();
    text = s.str();
    return true;
}

// A postconf run whose failure ends the apply: its output, or nullopt after saying why.
std::optional<std::string> postconf(const PostfixOptions& options, std::vector<std::string> arguments) {
    const std::vector<std::string> argv = postconf_command(options, std::move(arguments));
    const CommandResult r = run_command(argv);
    if (r.status == 0) return r.output;
    std::fprintf(stderr, "routectl: %s failed: %s\n", command_line(argv).c_str(), r.error.c_str());
    return std::nullopt;
}

struct OursContext {
    std::string directory;  // "/etc/postfix/route-milter/": every table of ours is TYPE:<this>NAME
    std::string milter;     // route-milter's smtpd_milters entry, as a name
};

bool is_ours(std::string_view element, const void* context) {
    const auto& c = *static_cast<const OursContext*>(context);
    const std::size_t colon = element.find(':');
    if (colon != std::string_view::npos && element.substr(colon + 1).rfind(c.directory, 0) == 0) return true;
    return main_cf_milter_name(element) == c.milter;
}

// A relay domain written as a plain name ("example.com"); not Postfix's ".parent" form or
// anything else that "@domain" could not stand for.
bool relay_domain_name(const std::string& text, std::string& domain) {
    return !text.empty() && text.front() != '.' && canonical_domain(text, domain) == DomainStatus::ok &&
           is_host_name(domain);
}

// Whether the admin lists their relay recipients (relay_recipient_maps of their own): if not,
// Postfix takes every recipient of their relay domains, and must keep doing so.
bool admin_lists_relay_recipients(const MainCfState& state, const OursContext& ours) {
    const auto rrm = state.explicit_values.find("relay_recipient_maps");
    if (rrm == state.explicit_values.end()) return false;
    const std::vector<std::string> elements = split_main_cf_list(rrm->second);
    return std::any_of(elements.begin(), elements.end(), [&](const std::string& e) { return !is_ours(e, &ours); });
}

// The admin's own relay domains: literal names, and the keys of tables postmap -s can list.
// false after saying which element cannot be read.
bool admin_relay_domains(const PostfixOptions& options, const MainCfState& state, const OursContext& ours,
                         std::vector<std::string>& out) {
    const auto rd = state.explicit_values.find("relay_domains");
    if (rd == state.explicit_values.end()) return true;
    for (const std::string& e : split_main_cf_list(rd->second)) {
        if (is_ours(e, &ours) || e.front() == '$') continue;  // $mydestination: local, not relayed
        if (e.find(':') == std::string::npos && e.find('/') == std::string::npos) {
            std::string domain;
            if (relay_domain_name(e, domain)) out.push_back(domain);
            else
                std::fprintf(stderr,
                             "routectl: warning: relay_domains element \"%s\" is no domain name, so its recipients "
                             "get no \"@domain OK\" line; list them in relay_recipient_maps yourself\n",
                             one_line(e).c_str());
            continue;
        }
        std::vector<std::string> argv{"postmap"};
        if (!options.postfix_config.empty()) argv.insert(argv.end(), {"-c", options.postfix_config});
        argv.insert(argv.end(), {"-s", e});
        const CommandResult r = run_command(argv);
        if (r.status != 0) {
            std::fprintf(stderr,
                         "routectl: relay_domains names %s, whose domains take every recipient today; listing "
                         "recipients for the routes would refuse theirs, and %s failed (%s): give them "
                         "relay_recipient_maps of your own (\"@domain OK\" lines) and run apply again\n",
                         e.c_str(), command_line(argv).c_str(), r.error.c_str());
            return false;
        }
        for (const std::string& line : output_lines(r.output)) {
            std::string domain;
            const std::string key = line.substr(0, line.find_first_of(" \t"));
            if (relay_domain_name(key, domain)) out.push_back(domain);
            else
                std::fprintf(stderr,
                             "routectl: warning: relay_domains table %s: key \"%s\" is no domain name, so its "
                             "recipients get no \"@domain OK\" line; list them in relay_recipient_maps yourself\n",
                             e.c_str(), one_line(key).c_str());
        }
    }
    return true;
}

// A directory of its own for the staged main.cf and master.cf; removed at the end.
struct StagingDirectory {
    std::string path;
    StagingDirectory() {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp") + "/routectl-apply.XXXXXX";
        if (::mkdtemp(pattern.data()) != nullptr) path = pattern;
    }
    ~StagingDirectory() {
        if (path.empty()) return;
        for (const char* name : {"main.cf", "master.cf"}) ::unlink((path + "/" + name).c_str());
        ::rmdir(path.c_str());
    }
};

// The master.cf services of master.cf.snippet: "NAME/TYPE" -> (entry, its -o parameters).
struct MasterService {
    std::string entry;
    std::vector<std::string> parameters;
};
std::map<std::string, MasterService> master_services(const std::string& snippet) {
    std::map<std::string, MasterService> out;
    std::string current;
    std::istringstream in(snippet);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line.front() == '#') continue;
        if (line.rfind("  -o ", 0) == 0 && !current.empty()) {
            out[current].parameters.push_back(line.substr(5));
            continue;
        }
        std::istringstream words(line);
        std::string name, type;
        words >> name >> type;
        current = name + "/" + type;
        out[current].entry = line;
    }
    return out;
}

// "- old" / "+ new" for each line that differs, in name order. config_directory is left out:
// postconf -c names the directory it read, and the staged one is no change.
std::string settings_diff(const std::vector<std::string>& before, const std::vector<std::string>& after) {
    const auto name_of_line = [](const std::string& line) { return line.substr(0, line.find_first_of(" =")); };
    const std::set<std::string> a(before.begin(), before.end()), b(after.begin(), after.end());
    std::map<std::string, std::string> lines;  // name -> diff lines, so a change reads - then +
    const auto add = [&](const std::vector<std::string>& from, const std::set<std::string>& other, const char* order,
                         const char* sign) {
        for (const std::string& l : from)
            if (!other.count(l) && name_of_line(l) != "config_directory")
                lines[name_of_line(l) + order] += sign + l + "\n";
    };
    add(before, b, "\t0", "- ");
    add(after, a, "\t1", "+ ");
    std::string out;
    for (const auto& [key, text] : lines) out += text;
    return out;
}

// The route-milter processes serving `config` (their -c, or the default): /proc/PID/cmdline.
std::vector<pid_t> milters_of(const std::string& config) {
    std::vector<pid_t> out;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) return out;
    while (const dirent* entry = ::readdir(proc)) {
        char* end = nullptr;
        const long pid = std::strtol(entry->d_name, &end, 10);
        if (pid <= 0 || *end != '\0') continue;
        std::string cmdline;
        if (!read_file(std::string("/proc/") + entry->d_name + "/cmdline", cmdline) || cmdline.empty()) continue;
        std::vector<std::string> argv;
        for (std::size_t start = 0; start < cmdline.size();) {
            const std::size_t nul = cmdline.find('\0', start);
            argv.push_back(cmdline.substr(start, nul - start));
            start = nul == std::string::npos ? cmdline.size() : nul + 1;
        }
        const std::string& program = argv.front();
        if (program.substr(program.rfind('/') + 1) != "route-milter") continue;
        std::string served = default_config_path;
        bool checking = false;
        for (std::size_t i = 1; i < argv.size(); ++i) {
            if (argv[i] == "-c" && i + 1 < argv.size()) served = argv[++i];
            else if (argv[i] == "-t") checking = true;
        }
        if (!checking && absolute_path(served) == config) out.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(proc);
    return out;
}

mode_t file_mode(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0644;
}

int command_apply(const ApplyOptions& options) {
    PostfixOptions postfix = options.postfix;
    // Where main.cf is: --postfix-config, else the one postconf reads.
    std::string config_dir = postfix.postfix_config;
    if (config_dir.empty()) {
        const std::optional<std::string> dir = postconf(postfix, {"-h", "config_directory"});
        if (!dir) return EX_UNAVAILABLE;
        const std::vector<std::string> lines = output_lines(*dir);
        config_dir = lines.empty() ? "/etc/postfix" : lines.front();
    }
    config_dir = absolute_path(config_dir);
    const std::optional<std::string> explicit_text = postconf(postfix, {"-n"});
    if (!explicit_text) return EX_CONFIG;
    MainCfState state;
    state.explicit_values = parse_settings(output_lines(*explicit_text));
    const std::string directory = absolute_path(postfix.output_dir);
    std::string record;
    if (read_file(directory + "/" + applied_record, record)) state.applied = parse_settings(output_lines(record));

    // The milter's entry is known once the config is read; the tables' directory now.
    OursContext ours{directory + "/", ""};
    std::vector<std::string> relayed;
    if (!admin_relay_domains(postfix, state, ours, relayed)) return EX_CONFIG;
    if (!admin_lists_relay_recipients(state, ours)) postfix.kept_relay_domains = relayed;

    PostfixHost host;
    int status = EX_OK;
    std::optional<PostfixMapsResult> maps = render_for_host(postfix, host, status);
    if (!maps) return status;
    // The milter decides for these domains too: one it takes as external refuses whoever may not relay.
    const RouteTable routes(*host.config);
    for (const std::string& d : relayed) {
        const RouteConfig* route = routes.route_for_domain(d);
        if (routes.is_local_domain(d) || (route != nullptr && route->treat_recipient_as == AddressClass::local)) continue;
        std::fprintf(stderr,
                     "routectl: warning: Postfix relays for %s, and route-milter takes its recipients as external: "
                     "mail to it from clients that may not relay is refused; add it to local_domains, or give it a "
                     "route with treat_recipient_as = \"local\"\n",
                     d.c_str());
    }
    ours.milter = postfix.milter_address.empty() ? postfix_milter_address(host.config->milter.socket) : postfix.milter_address;

    std::vector<std::string> names;
    for (const MainCfWanted& w : maps->main_cf) names.push_back(w.name);
    std::vector<std::string> defaults_args{"-d"};
    defaults_args.insert(defaults_args.end(), names.begin(), names.end());
    const std::optional<std::string> defaults = postconf(postfix, defaults_args);
    if (!defaults) return EX_UNAVAILABLE;
    state.defaults = parse_settings(output_lines(*defaults));
    const MainCfMerge merge = merge_main_cf(maps->main_cf, state, is_ours, &ours);

    // Staged: main.cf and master.cf copied, edited there by postconf, compared, then written.
    StagingDirectory stage;
    if (stage.path.empty()) {
        std::fprintf(stderr, "routectl: cannot create a staging directory: %s\n", std::strerror(errno));
        return EX_CANTCREAT;
    }
    std::map<std::string, std::string> old_text;
    for (const char* name : {"main.cf", "master.cf"}) {
        std::string text;
        if (!read_file(config_dir + "/" + name, text)) {
            std::fprintf(stderr, "routectl: cannot read %s/%s: %s\n", config_dir.c_str(), name, std::strerror(errno));
            return EX_NOINPUT;
        }
        old_text[name] = text;
        std::ofstream out(stage.path + "/" + name, std::ios::binary);
        out << text;
        if (!out.flush()) {
            std::fprintf(stderr, "routectl: cannot stage %s in %s\n", name, stage.path.c_str());
            return EX_CANTCREAT;
        }
    }
    PostfixOptions staged = postfix;
    staged.postfix_config = stage.path;
    if (!merge.set.empty()) {
        std::vector<std::string> edits{"-e"};
        for (const auto& [name, value] : merge.set) edits.push_back(name + " = " + value);
        if (!postconf(staged, edits)) return EX_SOFTWARE;
    }
    const std::string master_snippet = [&] {
        for (const RenderedFile& f : maps->files)
            if (f.name == "master.cf.snippet") return f.content;
        return std::string();
    }();
    // Each service of ours written whole, as the snippet has it: the same bytes every time.
    for (const auto& [service, wanted] : master_services(master_snippet)) {
        if (!postconf(staged, {"-M", "-e", service + " = " + wanted.entry})) return EX_SOFTWARE;
        for (const std::string& p : wanted.parameters)
            if (!postconf(staged, {"-P", "-e", service + "/" + p})) return EX_SOFTWARE;
    }

    const std::optional<std::string> before = postconf(postfix, {"-n"}), after = postconf(staged, {"-n"});
    const std::optional<std::string> before_m = postconf(postfix, {"-M"}), after_m = postconf(staged, {"-M"});
    if (!before || !after || !before_m || !after_m) return EX_SOFTWARE;
    const std::string diff = settings_diff(output_lines(*before), output_lines(*after)) +
                             settings_diff(output_lines(*before_m), output_lines(*after_m));
    for (const std::string& w : merge.warnings) std::fprintf(stderr, "routectl: warning: %s\n", w.c_str());
    std::printf("%s (postconf -n, -M):\n%s", (config_dir + "/main.cf, master.cf").c_str(),
                diff.empty() ? "  no change\n" : diff.c_str());

    // The record: the settings this apply set, and those an earlier one set that nobody changed since.
    const std::map<std::string, std::string> now = parse_settings(output_lines(*after));
    std::string applied = "# the main.cf values routectl apply set; it tells them from the admin's own next time\n";
    for (const std::string& name : names) {
        const auto it = now.find(name);
        const auto last = state.applied.find(name);
        const auto was = state.explicit_values.find(name);
        const bool still_ours = last != state.applied.end() && was != state.explicit_values.end() && last->second == was->second;
        if (it != now.end() && (merge.set.count(name) != 0 || still_ours)) applied += name + " = " + it->second + "\n";
    }
    std::vector<RenderedFile> files = std::move(maps->files);
    files.push_back({applied_record, applied, 0644, false});

    if (options.dry_run) {
        std::printf("maps: would be written into %s (dry run: nothing changed)\n", directory.c_str());
        return EX_OK;
    }
    std::vector<RenderedFile> postfix_files;
    for (const char* name : {"main.cf", "master.cf"}) {
        std::string text;
        if (!read_file(stage.path + "/" + name, text)) {
            std::fprintf(stderr, "routectl: cannot read the staged %s\n", name);
            return EX_SOFTWARE;
        }
        postfix_files.push_back({name, std::move(text), file_mode(config_dir + "/" + name), false});
    }

    const WriteResult written = write_files_atomically(directory, files, table_tool(postfix, host.type, host.settings.utf8), true);
    if (!written.error.empty()) {
        std::fprintf(stderr, "routectl: %s; main.cf and master.cf were not changed%s\n", written.error.c_str(),
                     written.restored ? ", nor any map" : "");
        return written.tool_failed ? EX_SOFTWARE : EX_CANTCREAT;
    }
    const WriteResult edited = write_files_atomically(config_dir, postfix_files, std::nullopt, true);
    std::vector<std::string> check{"postfix"};
    if (!postfix.postfix_config.empty()) check.insert(check.end(), {"-c", postfix.postfix_config});
    check.push_back("check");
    const CommandResult checked = edited.error.empty() ? run_command(check) : CommandResult{};
    if (!edited.error.empty() || checked.status != 0) {
        const std::string why = !edited.error.empty() ? edited.error : command_line(check) + " failed: " + checked.error;
        const std::string undo = roll_back(edited) + roll_back(written);
        std::fprintf(stderr, "routectl: %s; %s\n", why.c_str(),
                     undo.empty() ? "main.cf, master.cf and the maps are as they were" : undo.c_str());
        return EX_CONFIG;
    }
    drop_backups(edited);
    drop_backups(written);
    for (const std::string& note : written.notes) std::fprintf(stderr, "routectl: note: %s\n", note.c_str());
    std::printf("maps: %zu written into %s, %zu unchanged\n", written.changed.size(), directory.c_str(),
                files.size() - written.changed.size());

    // Postfix reads the new main.cf at its reload; a stopped Postfix reads it when it starts.
    std::vector<std::string> status_cmd{"postfix"}, reload{"postfix"};
    if (!postfix.postfix_config.empty()) {
        status_cmd.insert(status_cmd.end(), {"-c", postfix.postfix_config});
        reload.insert(reload.end(), {"-c", postfix.postfix_config});
    }
    status_cmd.push_back("status");
    reload.push_back("reload");
    if (edited.changed.empty() && written.changed.empty()) {
        std::printf("postfix: nothing changed, not reloaded\n");
    } else if (run_command(status_cmd).status == 0) {
        const CommandResult r = run_command(reload);
        if (r.status != 0) {
            std::fprintf(stderr, "routectl: %s failed: %s\n", command_line(reload).c_str(), r.error.c_str());
            return EX_UNAVAILABLE;
        }
        std::printf("postfix: reloaded\n");
    } else {
        std::printf("postfix: not running; it reads the new settings when it starts\n");
    }
    // The milter compiles the config afresh at its reload (SIGHUP): through systemd when its unit
    // runs, else each route-milter process of this config.
    if (run_command({"systemctl", "is-active", "--quiet", "route-milter.service"}).status == 0) {
        const CommandResult r = run_command({"systemctl", "reload", "route-milter.service"});
        std::printf("route-milter: %s\n", r.status == 0 ? "reloaded" : ("reload failed: " + r.error).c_str());
        if (r.status != 0) return EX_UNAVAILABLE;
        return EX_OK;
    }
    const std::vector<pid_t> pids = milters_of(absolute_path(postfix.config_path));
    for (const pid_t pid : pids)
        if (::kill(pid, SIGHUP) != 0)
            std::fprintf(stderr, "routectl: cannot reload route-milter (pid %d): %s\n", static_cast<int>(pid),
                         std::strerror(errno));
    if (pids.empty())
        std::printf("route-milter: not running; it reads the config when it starts\n");
    else
        for (const pid_t pid : pids) std::printf("route-milter: reloaded (pid %d)\n", static_cast<int>(pid));
    return EX_OK;
}

}  // namespace

const RoutectlCommand apply_command{
    "apply", "write the Postfix tables and merge the routes' settings into main.cf and master.cf, then reload",
    {{"output", 'o', "DIR", false, "the maps' directory (default /etc/postfix/route-milter)"},
     {"postfix-config", 0, "DIR", false, "Postfix's config directory (default: the one postconf reads)"},
     {"database-type", 0, "TYPE", false, "cdb, lmdb or hash (default: Postfix's default_database_type)"},
     {"milter", 0, "ADDRESS", false, "route-milter's smtpd_milters address (default: from milter.socket)"},
     {"dry-run", 0, nullptr, false, "show the diff and the warnings, change nothing"}},
    nullptr,
    [](const CommandArguments& a) {
        return command_apply(ApplyOptions{PostfixOptions{a.config_path, a.value_or("output", "/etc/postfix/route-milter"),
                                                         a.value_or("milter", ""), true, a.value_or("postfix-config", ""),
                                                         a.value_or("database-type", ""), {}},
                                          a.has("dry-run")});
    }};

}  // namespace route_milter
