// commands.hpp - the routectl commands. Each declares its name, usage and options beside its
// code (Dovecot's doveadm commands are the model); the driver (main.cpp) accepts exactly those,
// and anything else is exit 64 (EX_USAGE) with that command's usage line.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace route_milter {

struct CommandOption {
    const char* name;             // --name
    char letter = 0;              // -x as well, or 0
    const char* value = nullptr;  // the value's placeholder in the usage line ("DIR"); nullptr: a flag
    bool required = false;
    const char* help = nullptr;   // one line for `routectl CMD --help`
};

struct RoutectlCommand;

// What the driver parsed for one command: only options it declared, and its operands.
struct CommandArguments {
    const RoutectlCommand* command = nullptr;
    std::string config_path;  // -c FILE / --config FILE: every command takes it
    std::map<std::string, std::string, std::less<>> given;  // option name -> value ("" for a flag)
    std::vector<std::string> operands;

    // Throw std::logic_error for an option the command did not declare (a programming error).
    bool has(std::string_view option) const;
    std::string value_or(std::string_view option, std::string fallback) const;
};

struct RoutectlCommand {
    const char* name;
    const char* summary;                  // one line for `routectl --help`
    std::vector<CommandOption> options;   // besides -c FILE
    const char* operands;                 // "RCPT...": one or more; nullptr: none
    int (*run)(const CommandArguments&);  // returns a sysexits code
    bool reads_config = true;             // takes -c FILE (import-hmailserver writes one instead)
    const char* details = nullptr;        // `routectl CMD --help` after the options: operands, exit status
};

// "routectl query [-c FILE] --client IP [--from ADDR] [--auth USER] RCPT...": from the declaration.
std::string usage_line(const RoutectlCommand& command);

// `routectl CMD --help`: the usage line, the summary, one line per option (-c and -h included),
// then the details; all from the declaration, so it names every option the driver accepts.
std::string command_help(const RoutectlCommand& command);

extern const RoutectlCommand check_command, compile_command, query_command, show_command, stats_command, postfix_command,
    apply_command, sendmail_command, retry_command, import_hmailserver_command;

}  // namespace route_milter
