// run_command.hpp - runs an MTA tool (postmap, postqueue, postsuper) without a shell.
#pragma once

#include <string>
#include <vector>

namespace route_milter {

struct CommandResult {
    int status = -1;     // exit status; -1 when it could not run or died of a signal
    std::string output;  // stdout
    std::string error;   // stderr (or why it could not run)
};

CommandResult run_command(const std::vector<std::string>& argv);

std::string command_line(const std::vector<std::string>& argv);

}  // namespace route_milter
