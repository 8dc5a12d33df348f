// routectl - the administrator's tool for route-milter.
//
//   routectl check   [-c FILE] [-v]
//   routectl query   [-c FILE] --client IP [--from ADDR] [--auth USER] RCPT...
//   routectl show    [-c FILE] [-n]
//   routectl stats   [-c FILE] [--url URL]
//   routectl postfix [-c FILE] -o DIR [--database-type TYPE] [--postmap] [--postfix-config DIR] [--milter ADDRESS]
//   routectl sendmail [-c FILE] -o DIR [--makemap] [--sendmail-config FILE] [--queue-dir DIR] [--milter ADDRESS]
//   routectl retry   [-c FILE] [--mta postfix|sendmail] [--postfix-config DIR] [--sendmail-config FILE]
//                    [--state FILE] [--dry-run] [--now EPOCH]
//   routectl import-hmailserver [-o FILE] [--force] BACKUP
//   routectl COMMAND --help
//
// Every command loads the config with the daemon's own loader, so a config routectl accepts
// is one the milter accepts, and the other way round. Each command declares its own options
// beside its code (commands.hpp); an option of another command is exit 64 with the usage line.
#include "commands.hpp"
#include "route_milter/core/config.hpp"
#include "route_milter/common/version.hpp"

#include <getopt.h>
#include <sysexits.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace route_milter {

bool CommandArguments::has(std::string_view option) const {
    for (const CommandOption& o : command->options)
        if (o.name == option) return given.find(option) != given.end();
    throw std::logic_error("routectl " + std::string(command->name) + " has no option --" + std::string(option));
}

std::string CommandArguments::value_or(std::string_view option, std::string fallback) const {
    if (!has(option)) return fallback;
    return given.find(option)->second;
}

std::string usage_line(const RoutectlCommand& command) {
    std::string line = "routectl " + std::string(command.name) + (command.reads_config ? " [-c FILE]" : "");
    for (const CommandOption& o : command.options) {
        std::string word = o.letter != 0 ? std::string("-") + o.letter : std::string("--") + o.name;
        if (o.value != nullptr) word += std::string(" ") + o.value;
        line += o.required ? " " + word : " [" + word + "]";
    }
    if (command.operands != nullptr) line += std::string(" ") + command.operands;
    return line;
}

std::string command_help(const RoutectlCommand& command) {
    struct Row {
        std::string left, right;
    };
    std::vector<Row> rows;
    if (command.reads_config)
        rows.push_back({"-c, --config FILE", std::string("the configuration (default ") + default_config_path + ")"});
    for (const CommandOption& o : command.options) {
        std::string left = o.letter != 0 ? std::string("-") + o.letter + ", " : "    ";
        left += std::string("--") + o.name;
        if (o.value != nullptr) left += std::string(" ") + o.value;
        std::string right = o.help != nullptr ? o.help : "";
        if (o.required) right += right.empty() ? "(required)" : " (required)";
        rows.push_back({left, right});
    }
    rows.push_back({"-h, --help", "print this help and exit"});
    std::size_t width = 0;
    for (const Row& r : rows) width = std::max(width, r.left.size());
    std::string text = "usage: " + usage_line(command) + "\n\n" + command.summary + "\n\noptions:\n";
    for (const Row& r : rows) text += "  " + r.left + std::string(width + 2 - r.left.size(), ' ') + r.right + "\n";
    if (command.details != nullptr) text += std::string("\n") + command.details + "\n";
    return text;
}

}  // namespace route_milter

using namespace route_milter;

namespace {

const std::array<const RoutectlCommand*, 10> commands{&check_command,    &compile_command, &query_command, &show_command,
                                                     &stats_command,    &postfix_command, &apply_command, &sendmail_command,
                                                     &retry_command,    &import_hmailserver_command};

void usage(FILE* out) {
    const char* lead = "usage: ";
    for (const RoutectlCommand* c : commands) {
        std::fprintf(out, "%s%s\n", lead, usage_line(*c).c_str());
        lead = "       ";
    }
    std::fprintf(out, "       routectl --version\n");
    for (const RoutectlCommand* c : commands) std::fprintf(out, "  %-18s %s\n", c->name, c->summary);
    std::fprintf(out, "  -c FILE            configuration (default %s)\n", default_config_path);
    std::fprintf(out, "routectl COMMAND --help describes a command and each of its options.\n");
}

int command_usage(const RoutectlCommand& command) {
    std::fprintf(stderr, "usage: %s\n", usage_line(command).c_str());
    return EX_USAGE;
}

// Parses argv[2..] with exactly the options `command` declares (and -c), then runs it.
int run(const RoutectlCommand& command, int argc, char** argv) {
    std::string letters = command.reads_config ? "hc:" : "h";
    std::vector<option> long_options{{"help", no_argument, nullptr, 'h'}};
    if (command.reads_config) long_options.push_back({"config", required_argument, nullptr, 'c'});
    constexpr int first_long = 256;
    for (std::size_t i = 0; i < command.options.size(); ++i) {
        const CommandOption& o = command.options[i];
        const int code = first_long + static_cast<int>(i);
        long_options.push_back({o.name, o.value != nullptr ? required_argument : no_argument, nullptr, code});
        if (o.letter != 0) letters += std::string(1, o.letter) + (o.value != nullptr ? ":" : "");
    }
    long_options.push_back({nullptr, 0, nullptr, 0});
    CommandArguments arguments;
    arguments.command = &command;
    arguments.config_path = default_config_path;
    optind = 2;
    int opt;
    while ((opt = getopt_long(argc, argv, letters.c_str(), long_options.data(), nullptr)) != -1) {
        if (opt == 'c') {
            arguments.config_path = optarg;
            continue;
        }
        // Answered before the required options and operands are looked for: help needs neither.
        if (opt == 'h') {
            std::fputs(command_help(command).c_str(), stdout);
            return EX_OK;
        }
        const CommandOption* found = nullptr;
        for (std::size_t i = 0; i < command.options.size(); ++i)
            if (opt == first_long + static_cast<int>(i) || (command.options[i].letter != 0 && opt == command.options[i].letter))
                found = &command.options[i];
        if (found == nullptr) return command_usage(command);  // getopt has named the option
        arguments.given[found->name] = found->value != nullptr ? optarg : "";
    }
    arguments.operands.assign(argv + optind, argv + argc);
    for (const CommandOption& o : command.options)
        if (o.required && !arguments.has(o.name)) {
            std::fprintf(stderr, "routectl %s: missing %s%s\n", command.name, o.letter != 0 ? "-" : "--",
                         o.letter != 0 ? std::string(1, o.letter).c_str() : o.name);
            return command_usage(command);
        }
    if (command.operands == nullptr && !arguments.operands.empty()) {
        std::fprintf(stderr, "routectl %s: unexpected argument (%s)\n", command.name, arguments.operands.front().c_str());
        return command_usage(command);
    }
    if (command.operands != nullptr && arguments.operands.empty()) {
        std::fprintf(stderr, "routectl %s: missing %s\n", command.name, command.operands);
        return command_usage(command);
    }
    return command.run(arguments);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) { usage(stderr); return EX_USAGE; }
    const std::string name = argv[1];
    if (name == "--version" || name == "-V") { std::printf("routectl %s\n", version); return EX_OK; }
    if (name == "--help" || name == "-h") { usage(stdout); return EX_OK; }
    for (const RoutectlCommand* c : commands)
        if (name == c->name) return run(*c, argc, argv);
    std::fprintf(stderr, "routectl: unknown command (%s)\n", name.c_str());
    usage(stderr);
    return EX_USAGE;
}
