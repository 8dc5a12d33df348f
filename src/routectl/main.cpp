// routectl - the administrator's tool for route-milter.
//
//   routectl check   [-c FILE] [-v]
//   routectl query   [-c FILE] --client IP [--from ADDR] [--auth USER] RCPT...
//   routectl postfix [-c FILE] -o DIR [--postmap] [--postfix-config DIR] [--milter ADDRESS]
//   routectl sendmail [-c FILE] -o DIR [--makemap] [--sendmail-config FILE] [--queue-dir DIR] [--milter ADDRESS]
//   routectl retry   [-c FILE] [--mta postfix|sendmail] [--postfix-config DIR] [--sendmail-config FILE]
//                    [--state FILE] [--dry-run] [--now EPOCH]
//
// Every command loads the config with the daemon's own loader, so a config routectl accepts
// is one the milter accepts, and the other way round.
#include "commands.hpp"
#include "route_milter/core/config.hpp"
#include "route_milter/common/version.hpp"

#include <getopt.h>
#include <sysexits.h>

#include <cstdio>
#include <cstdlib>
#include <string>

using namespace route_milter;

namespace {

void usage(FILE* out) {
    std::fprintf(out,
                 "usage: routectl check   [-c FILE] [-v]\n"
                 "       routectl query   [-c FILE] --client IP [--from ADDR] [--auth USER] RCPT...\n"
                 "       routectl postfix [-c FILE] -o DIR [--postmap] [--postfix-config DIR] [--milter ADDRESS]\n"
                 "       routectl sendmail [-c FILE] -o DIR [--makemap] [--sendmail-config FILE] [--queue-dir DIR]\n"
                 "                         [--milter ADDRESS]\n"
                 "       routectl retry   [-c FILE] [--mta postfix|sendmail] [--postfix-config DIR]\n"
                 "                        [--sendmail-config FILE] [--state FILE] [--dry-run] [--now EPOCH]\n"
                 "       routectl --version\n"
                 "  check    validate the configuration (as route-milter -t) and summarise it\n"
                 "  query    print the decision the milter makes for each recipient, and why\n"
                 "  postfix  write the Postfix maps and main.cf/master.cf snippets that carry the routes\n"
                 "  sendmail write the Sendmail maps and sendmail.mc snippet that carry the routes\n"
                 "  retry    enforce each route's retries/retry_minutes on the MTA's queue (run every minute)\n"
                 "  -c FILE  configuration (default %s)\n",
                 default_config_path);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) { usage(stderr); return EX_USAGE; }
    const std::string command = argv[1];
    if (command == "--version" || command == "-V") { std::printf("routectl %s\n", version); return EX_OK; }
    if (command == "--help" || command == "-h") { usage(stdout); return EX_OK; }
    RoutectlOptions o;
    o.config_path = default_config_path;
    o.state_file = "/var/lib/route-milter/retry-state.json";
    enum { client = 256, from, auth, postmap, postfix_config, milter, state, dry_run, now, makemap, sendmail_config,
           queue_dir, mta };
    static const option options[] = {{"config", required_argument, nullptr, 'c'},
                                     {"verbose", no_argument, nullptr, 'v'},
                                     {"output", required_argument, nullptr, 'o'},
                                     {"client", required_argument, nullptr, client},
                                     {"from", required_argument, nullptr, from},
                                     {"auth", required_argument, nullptr, auth},
                                     {"postmap", no_argument, nullptr, postmap},
                                     {"postfix-config", required_argument, nullptr, postfix_config},
                                     {"milter", required_argument, nullptr, milter},
                                     {"state", required_argument, nullptr, state},
                                     {"dry-run", no_argument, nullptr, dry_run},
                                     {"now", required_argument, nullptr, now},
                                     {"makemap", no_argument, nullptr, makemap},
                                     {"sendmail-config", required_argument, nullptr, sendmail_config},
                                     {"queue-dir", required_argument, nullptr, queue_dir},
                                     {"mta", required_argument, nullptr, mta},
                                     {nullptr, 0, nullptr, 0}};
    optind = 2;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:vo:", options, nullptr)) != -1) {
        switch (opt) {
        case 'c': o.config_path = optarg; break;
        case 'v': o.verbose = true; break;
        case 'o': o.output_dir = optarg; break;
        case client: o.client = optarg; break;
        case from: o.from = optarg; break;
        case auth: o.auth_user = optarg; break;
        case postmap: o.postmap = true; break;
        case postfix_config: o.postfix_config = optarg; break;
        case milter: o.milter_address = optarg; break;
        case state: o.state_file = optarg; break;
        case dry_run: o.dry_run = true; break;
        case now: {
            char* end = nullptr;
            o.now = std::strtoll(optarg, &end, 10);
            if (end == optarg || *end != '\0') {
                std::fprintf(stderr, "routectl: --now: not a number of seconds since the epoch (%s)\n", optarg);
                return EX_USAGE;
            }
            break;
        }
        case makemap: o.makemap = true; break;
        case sendmail_config: o.sendmail_config = optarg; break;
        case queue_dir: o.queue_dir = optarg; break;
        case mta:
            o.mta = optarg;
            if (o.mta != "postfix" && o.mta != "sendmail") {
                std::fprintf(stderr, "routectl: --mta: must be postfix or sendmail (%s)\n", optarg);
                return EX_USAGE;
            }
            break;
        default: usage(stderr); return EX_USAGE;
        }
    }
    o.arguments.assign(argv + optind, argv + argc);
    if (command == "check" && o.arguments.empty()) return command_check(o);
    if (command == "query" && !o.client.empty() && !o.arguments.empty()) return command_query(o);
    if (command == "postfix" && !o.output_dir.empty() && o.arguments.empty()) return command_postfix(o);
    if (command == "sendmail" && !o.output_dir.empty() && o.arguments.empty()) return command_sendmail(o);
    if (command == "retry" && o.arguments.empty()) return command_retry(o);
    usage(stderr);
    return EX_USAGE;
}
