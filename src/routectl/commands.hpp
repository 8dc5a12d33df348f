// commands.hpp - the routectl subcommands; each returns a sysexits code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace route_milter {

struct RoutectlOptions {
    std::string config_path;
    bool verbose = false;
    // query
    std::string client, from = "<>", auth_user;
    // postfix
    std::string output_dir, milter_address;
    bool postmap = false;
    std::string postfix_config;  // Postfix config directory (-c of the Postfix tools)
    // sendmail
    bool makemap = false;
    std::string sendmail_config;  // sendmail.cf: -C of makemap and sendmail, and where retry finds the queue
    std::string queue_dir;        // Sendmail's QueueDirectory, for the queue groups of `routectl sendmail`
    // retry
    std::string mta = "postfix";  // whose queue: "postfix" or "sendmail"
    std::string state_file;
    bool dry_run = false;
    std::optional<std::int64_t> now;
    std::vector<std::string> arguments;
};

int command_check(const RoutectlOptions& options);
int command_query(const RoutectlOptions& options);
int command_postfix(const RoutectlOptions& options);
int command_sendmail(const RoutectlOptions& options);
int command_retry(const RoutectlOptions& options);

}  // namespace route_milter
