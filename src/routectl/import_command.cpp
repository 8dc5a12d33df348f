// routectl import-hmailserver: an hMailServer backup (.7z or its XML) -> route-milter.conf.
//
// The config is checked with the daemon's own loader before anything is written; FILE is
// written whole or not at all (a temporary file in its directory, then link or rename), mode
// 0600 when it holds route passwords (0644 otherwise), and never over an existing FILE without
// --force; a replaced FILE keeps its owner, group and mode (output_files.hpp: Ownership), so
// the daemon's group still reads it. Passwords go into FILE only: without -o a backup with route passwords is refused.
// Exit: 0, 64 (usage; passwords without -o), 65 (a bad backup, or a config that fails the
// check), 66 (BACKUP unreadable), 73 (FILE exists, or cannot be written).
#include "commands.hpp"
#include "output_files.hpp"
#include "route_milter/config/load_policy.hpp"
#include "route_milter/hmailserver/backup.hpp"
#include "route_milter/hmailserver/import.hpp"

#include <grp.h>
#include <pwd.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace route_milter {
namespace {

constexpr const char* me = "routectl import-hmailserver";

struct ImportCommandOptions {
    std::string backup, output;
    bool force = false;
};

// "root:route-milter" (numbers where no name is known).
std::string owner_text(const Ownership& o) {
    const passwd* user = getpwuid(o.uid);
    const group* grp = getgrgid(o.gid);
    return (user != nullptr ? std::string(user->pw_name) : std::to_string(o.uid)) + ":" +
           (grp != nullptr ? std::string(grp->gr_name) : std::to_string(o.gid));
}

int command_import(const ImportCommandOptions& options) {
    using namespace hmailserver;
    if (!options.output.empty() && !options.force && access(options.output.c_str(), F_OK) == 0) {
        std::fprintf(stderr, "%s: %s exists; give --force to replace it\n", me, options.output.c_str());
        return EX_CANTCREAT;
    }
    if (access(options.backup.c_str(), R_OK) != 0) {
        std::fprintf(stderr, "%s: %s: %s\n", me, options.backup.c_str(), std::strerror(errno));
        return EX_NOINPUT;
    }
    const BackupResult read = read_backup_file(options.backup);
    if (!read.backup) {
        std::fprintf(stderr, "%s: %s\n", me, read.error.c_str());
        return EX_DATAERR;
    }
    const ImportResult imported = import_backup(*read.backup, {options.backup, static_cast<long long>(std::time(nullptr))});
    for (const std::string& n : imported.notes) std::fprintf(stderr, "%s: note: %s\n", me, n.c_str());
    if (!imported.errors.empty()) {
        for (const std::string& e : imported.errors) std::fprintf(stderr, "%s: %s: %s\n", me, options.backup.c_str(), e.c_str());
        std::fprintf(stderr, "%s: %zu error(s); nothing written\n", me, imported.errors.size());
        return EX_DATAERR;
    }
    // The very check `routectl check` makes, on the text about to be written.
    const std::string shown_as = options.output.empty() ? "(imported config)" : options.output;
    const PolicyResult checked = load_policy_text(imported.config_text, shown_as);
    if (!checked.policy) {
        for (const Diagnostic& d : checked.errors) std::fprintf(stderr, "%s: %s\n", me, format_diagnostic(d).c_str());
        std::fprintf(stderr, "%s: the imported config would not pass routectl check (%zu error(s)); nothing written\n", me,
                     checked.errors.size());
        return EX_DATAERR;
    }
    const std::string summary = std::to_string(imported.routes) + " route(s) (" + std::to_string(imported.listed_addresses) +
                                " listed address(es), " + std::to_string(imported.routes_with_passwords.size()) +
                                " with SMTP AUTH), " + std::to_string(imported.routes_commented_out) +
                                " route(s) written commented out (never reached in hMailServer, or not as it was), " +
                                std::to_string(imported.ranges) + " IP range(s), " + std::to_string(imported.local_domains) +
                                " local domain(s); " + std::to_string(imported.notes.size()) + " note(s)";
    if (options.output.empty()) {
        if (!imported.routes_with_passwords.empty()) {
            std::fprintf(stderr, "%s: %zu route(s) hold SMTP AUTH passwords, which are never printed: give -o FILE (written "
                                 "with mode 0600)\n", me, imported.routes_with_passwords.size());
            return EX_USAGE;
        }
        std::fputs(imported.config_text.c_str(), stdout);
        if (std::fflush(stdout) != 0) return EX_IOERR;
        std::fprintf(stderr, "%s: imported %s\n", me, summary.c_str());
        return EX_OK;
    }
    const mode_t mode = imported.routes_with_passwords.empty() ? 0644 : 0600;
    Ownership given;
    if (const std::string why = write_file_atomically(options.output, imported.config_text, mode, options.force, given);
        !why.empty()) {
        std::fprintf(stderr, "%s: %s; nothing written\n", me, why.c_str());
        return EX_CANTCREAT;
    }
    if (const std::string note = narrowed_mode_note(options.output, given); !note.empty())
        std::fprintf(stderr, "%s: note: %s\n", me, note.c_str());
    std::fprintf(stderr, "%s: wrote %s (mode %04o%s): %s\n", me, options.output.c_str(), static_cast<unsigned>(given.mode),
                 given.kept ? (", owner and group " + owner_text(given) + " kept").c_str() : "", summary.c_str());
    std::fprintf(stderr, "%s: next: routectl check -c %s, then routectl postfix -c %s -o DIR\n", me,
                 options.output.c_str(), options.output.c_str());
    return EX_OK;
}

}  // namespace

const RoutectlCommand import_hmailserver_command{
    "import-hmailserver", "turn an hMailServer backup (.7z or its XML) into a route-milter configuration",
    {{"output", 'o', "FILE", false, "write the configuration to FILE (default: standard output; needed for passwords)"},
     {"force", 0, nullptr, false, "replace FILE if it exists, keeping its owner, group and mode"}},
    "BACKUP",
    [](const CommandArguments& a) {
        if (a.operands.size() != 1) {
            std::fprintf(stderr, "%s: exactly one BACKUP\nusage: %s\n", me, usage_line(*a.command).c_str());
            return EX_USAGE;
        }
        return command_import(ImportCommandOptions{a.operands[0], a.value_or("output", ""), a.has("force")});
    },
    false,
    "BACKUP: the .7z hMailServer Administrator writes (Settings and Domains), or its XML.\n"
    "exit 0, 64 usage, 65 bad backup or config, 66 BACKUP unreadable, 73 FILE exists or cannot be written"};

}  // namespace route_milter
