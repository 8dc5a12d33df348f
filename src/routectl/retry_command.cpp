// routectl retry: carry out the retry planner's actions on Postfix's or Sendmail's queue.
//
// Only the queue reader and the two actions differ between the MTAs; the plan is the same:
//   Postfix:  postqueue -j;  kick: postqueue -i ID;  expire: postsuper -e ID, then postqueue -i ID
//   Sendmail: the qf files of the queue directories named in sendmail.cf;
//             kick: sendmail -qI<ID>;  expire: sendmail -qI<ID> -OTimeout.queuereturn=0 (one more
//             attempt; still undeliverable, it is returned to the sender at once)
//
// Order matters for "no early expiry": actions are carried out first, then the state is
// saved; an action that failed is not counted; a state that cannot be saved only means more
// attempts later.
#include "commands.hpp"
#include "output_files.hpp"
#include "policy_loading.hpp"
#include "route_milter/core/route_table.hpp"
#include "route_milter/postfix/postqueue_json.hpp"
#include "route_milter/core/retry_plan.hpp"
#include "route_milter/sendmail/sendmail_maps.hpp"
#include "route_milter/sendmail/sendmail_queue.hpp"
#include "run_command.hpp"

#include <sysexits.h>
#include <syslog.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>

namespace route_milter {

struct RetryOptions {
    std::string config_path;
    std::string mta = "postfix";   // whose queue: "postfix" or "sendmail"
    std::string postfix_config;   // -c of postqueue and postsuper
    std::string sendmail_config;  // sendmail.cf: where the queue is, -C of sendmail
    std::string state_file = "/var/lib/route-milter/retry-state.json";
    bool dry_run = false;
    std::optional<std::int64_t> now;
};
namespace {

std::vector<std::string> postfix_tool(const RetryOptions& o, const char* tool) {
    std::vector<std::string> argv{tool};
    if (!o.postfix_config.empty()) argv.insert(argv.end(), {"-c", o.postfix_config});
    return argv;
}

void say(int priority, const std::string& line) {
    std::printf("%s\n", line.c_str());
    syslog(priority, "%s", line.c_str());
}

RetryState read_state(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        if (errno != ENOENT) say(LOG_WARNING, "warning: cannot read " + path + " (" + std::strerror(errno) +
                                                  "); counting attempts from zero");
        return {};
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (auto state = parse_retry_state(text.str())) return *state;
    say(LOG_WARNING, "warning: " + path + " is not a valid state file; counting attempts from zero");
    return {};
}

bool run_step(const std::vector<std::string>& argv) {
    const CommandResult r = run_command(argv);
    if (r.status == 0) return true;
    say(LOG_ERR, "error: " + command_line(argv) + " failed: " + r.error);
    return false;
}

// ---------------------------------------------------------------- Postfix

std::optional<QueueSnapshot> postfix_queue(const RetryOptions& options) {
    std::vector<std::string> list = postfix_tool(options, "postqueue");
    list.push_back("-j");
    const CommandResult queue = run_command(list);
    if (queue.status != 0) {
        say(LOG_ERR, "error: " + command_line(list) + " failed: " + queue.error);
        return std::nullopt;
    }
    QueueParseResult snapshot = parse_postqueue_json(queue.output);
    for (const std::string& e : snapshot.errors) say(LOG_WARNING, "warning: postqueue -j " + e + " (message skipped)");
    return std::move(snapshot.messages);
}

bool postfix_act(const RetryOptions& options, const RetryAction& a) {
    if (a.kind == RetryActionKind::expire) {
        std::vector<std::string> expire = postfix_tool(options, "postsuper");
        expire.insert(expire.end(), {"-e", a.queue_id});
        if (!run_step(expire)) return false;
    }
    std::vector<std::string> kick = postfix_tool(options, "postqueue");
    kick.insert(kick.end(), {"-i", a.queue_id});
    return run_step(kick);
}

// ---------------------------------------------------------------- Sendmail

std::string sendmail_cf(const RetryOptions& o) {
    return o.sendmail_config.empty() ? default_sendmail_config : o.sendmail_config;
}

std::optional<QueueSnapshot> sendmail_queue(const RetryOptions& options) {
    SendmailQueueScan scan = scan_sendmail_queue(sendmail_cf(options));
    for (const std::string& w : scan.warnings) say(LOG_WARNING, "warning: " + w);
    if (!scan.error.empty()) {
        say(LOG_ERR, "error: " + scan.error);
        return std::nullopt;
    }
    return std::move(scan.messages);
}

bool sendmail_act(const RetryOptions& options, const RetryAction& a) {
    std::vector<std::string> run{"sendmail"};
    if (!options.sendmail_config.empty()) run.insert(run.end(), {"-C", options.sendmail_config});
    run.push_back("-qI" + a.queue_id);
    if (a.kind == RetryActionKind::expire) run.push_back("-OTimeout.queuereturn=0");
    return run_step(run);
}

}  // namespace

int command_retry(const RetryOptions& options) {
    openlog("routectl", LOG_PID, LOG_MAIL);
    const std::optional<Config> config = load_config_or_report(options.config_path);
    if (!config) return EX_CONFIG;
    const RouteTable routes(*config);

    const bool sendmail = options.mta == "sendmail";
    const std::optional<QueueSnapshot> snapshot = sendmail ? sendmail_queue(options) : postfix_queue(options);
    if (!snapshot) return EX_UNAVAILABLE;

    const RetryState state = read_state(options.state_file);
    const std::int64_t now = options.now.value_or(static_cast<std::int64_t>(std::time(nullptr)));
    RetryPlan plan = plan_retries(*snapshot, state, now, routes);

    for (const RetryAction& a : plan.actions) {
        const RouteConfig& route = *a.route;
        const std::string what =
            a.kind == RetryActionKind::kick
                ? "kick " + a.queue_id + " (attempt " + std::to_string(a.attempt) + " of " + std::to_string(route.retries) +
                      ", every " + std::to_string(route.retry_minutes) + " min, route " + route.pattern.text() + ")"
                : "expire " + a.queue_id + " (" + std::to_string(a.attempt) + " retries used, route " + route.pattern.text() +
                      "): returning it to the sender";
        if (options.dry_run) {
            say(LOG_INFO, "dry run: " + what);
            continue;
        }
        const bool done = sendmail ? sendmail_act(options, a) : postfix_act(options, a);
        if (done) {
            say(LOG_INFO, what);
        } else if (a.kind == RetryActionKind::kick) {
            // Not attempted: do not count it.
            if (const auto old = state.find(a.queue_id); old != state.end()) plan.next_state[a.queue_id] = old->second;
            else plan.next_state.erase(a.queue_id);
        }
    }
    if (options.dry_run) return EX_OK;

    const std::size_t slash = options.state_file.rfind('/');
    const std::string directory = slash == std::string::npos ? "." : options.state_file.substr(0, slash == 0 ? 1 : slash);
    const std::string name = slash == std::string::npos ? options.state_file : options.state_file.substr(slash + 1);
    const WriteResult saved = write_files_atomically(directory, {RenderedFile{name, serialize_retry_state(plan.next_state), 0600, false}});
    if (!saved.error.empty()) {
        say(LOG_ERR, "error: cannot save the retry state: " + saved.error + " (attempts will be counted again)");
        return EX_CANTCREAT;
    }
    return EX_OK;
}

// The options' values are checked here, before the config is read.
int run_retry(const CommandArguments& a) {
    RetryOptions o;
    o.config_path = a.config_path;
    o.mta = a.value_or("mta", o.mta);
    if (o.mta != "postfix" && o.mta != "sendmail") {
        std::fprintf(stderr, "routectl: --mta: must be postfix or sendmail (%s)\n", o.mta.c_str());
        return EX_USAGE;
    }
    o.postfix_config = a.value_or("postfix-config", "");
    o.sendmail_config = a.value_or("sendmail-config", "");
    o.state_file = a.value_or("state", o.state_file);
    o.dry_run = a.has("dry-run");
    if (a.has("now")) {
        const std::string text = a.value_or("now", "");
        char* end = nullptr;
        errno = 0;
        o.now = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno == ERANGE) {
            std::fprintf(stderr, "routectl: --now: not a number of seconds since the epoch (%s)\n", text.c_str());
            return EX_USAGE;
        }
    }
    return command_retry(o);
}

const RoutectlCommand retry_command{
    "retry", "enforce each route's retries/retry_minutes on the MTA's queue (run every minute)",
    {{"mta", 0, "postfix|sendmail", false, "whose queue to work on (default postfix)"},
     {"postfix-config", 0, "DIR", false, "Postfix's configuration directory (postqueue -c DIR)"},
     {"sendmail-config", 0, "FILE", false, "Sendmail's sendmail.cf, for its queue directories"},
     {"state", 0, "FILE", false, "the attempts made so far (default /var/lib/route-milter/retry-state.json)"},
     {"dry-run", 0, nullptr, false, "print what would be done, change nothing"},
     {"now", 0, "EPOCH", false, "take the time to be EPOCH (seconds since 1970)"}},
    nullptr, run_retry};

}  // namespace route_milter
