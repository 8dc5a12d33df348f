// routectl retry: carry out the retry planner's actions on Postfix's queue.
//
// Order matters for "no early expiry": actions are carried out first, then the state is
// saved; an action that failed is not counted; a state that cannot be saved only means more
// attempts later.
#include "commands.hpp"
#include "output_files.hpp"
#include "policy_loading.hpp"
#include "route_milter/postqueue_json.hpp"
#include "route_milter/retry_plan.hpp"
#include "run_command.hpp"

#include <sys/stat.h>
#include <sysexits.h>
#include <syslog.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace route_milter {
namespace {

std::vector<std::string> postfix_tool(const RoutectlOptions& o, const char* tool) {
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

}  // namespace

int command_retry(const RoutectlOptions& options) {
    openlog("routectl", LOG_PID, LOG_MAIL);
    const auto policy = load_or_report(options.config_path);
    if (!policy) return EX_CONFIG;

    std::vector<std::string> list = postfix_tool(options, "postqueue");
    list.push_back("-j");
    const CommandResult queue = run_command(list);
    if (queue.status != 0) {
        say(LOG_ERR, "error: " + command_line(list) + " failed: " + queue.error);
        return EX_UNAVAILABLE;
    }
    const QueueParseResult snapshot = parse_postqueue_json(queue.output);
    for (const std::string& e : snapshot.errors) say(LOG_WARNING, "warning: postqueue -j " + e + " (message skipped)");

    const RetryState state = read_state(options.state_file);
    const std::int64_t now = options.now.value_or(static_cast<std::int64_t>(std::time(nullptr)));
    RetryPlan plan = plan_retries(snapshot.messages, state, now, *policy);

    for (const RetryAction& a : plan.actions) {
        const RouteConfig& route = *a.route;
        const std::string what =
            a.kind == RetryActionKind::kick
                ? "kick " + a.queue_id + " (attempt " + std::to_string(a.attempt) + " of " + std::to_string(route.retries) +
                      ", every " + std::to_string(route.retry_minutes) + " min, route " + route.domain + ")"
                : "expire " + a.queue_id + " (" + std::to_string(a.attempt) + " retries used, route " + route.domain +
                      "): returning it to the sender";
        if (options.dry_run) {
            say(LOG_INFO, "dry run: " + what);
            continue;
        }
        bool done = true;
        if (a.kind == RetryActionKind::expire) {
            std::vector<std::string> expire = postfix_tool(options, "postsuper");
            expire.insert(expire.end(), {"-e", a.queue_id});
            done = run_step(expire);
        }
        if (done) {
            std::vector<std::string> kick = postfix_tool(options, "postqueue");
            kick.insert(kick.end(), {"-i", a.queue_id});
            done = run_step(kick);
        }
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

}  // namespace route_milter
