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
#include "route_milter/postfix/postqueue_json.hpp"
#include "route_milter/core/retry_plan.hpp"
#include "route_milter/sendmail/sendmail_maps.hpp"
#include "route_milter/sendmail/sendmail_queue.hpp"
#include "run_command.hpp"

#include <dirent.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <syslog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <optional>
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

// ---------------------------------------------------------------- Postfix

std::optional<QueueSnapshot> postfix_queue(const RoutectlOptions& options) {
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

bool postfix_act(const RoutectlOptions& options, const RetryAction& a) {
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

std::string sendmail_cf(const RoutectlOptions& o) {
    return o.sendmail_config.empty() ? default_sendmail_config : o.sendmail_config;
}

std::optional<std::string> read_file(const std::string& path, int& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = errno;
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The directories a queue directory setting names: itself, or for "/var/spool/mqueue/q*" every
// directory in /var/spool/mqueue whose name starts with "q". A split queue keeps its qf files
// in a qf/ subdirectory.
std::vector<std::string> expand_queue_directory(const std::string& setting, std::string& error) {
    std::vector<std::string> found;
    if (setting.empty() || setting.back() != '*') {
        found.push_back(setting);
    } else {
        const std::size_t slash = setting.rfind('/');
        const std::string parent = slash == std::string::npos ? "." : setting.substr(0, slash == 0 ? 1 : slash);
        const std::string prefix = setting.substr(slash + 1, setting.size() - slash - 2);
        DIR* dir = ::opendir(parent.c_str());
        if (dir == nullptr) {
            error = "cannot read queue directory " + parent + ": " + std::strerror(errno);
            return {};
        }
        while (const dirent* e = ::readdir(dir)) {
            const std::string name = e->d_name;
            struct stat st {};
            const std::string path = parent + (parent == "/" ? "" : "/") + name;
            if (name != "." && name != ".." && name.rfind(prefix, 0) == 0 && ::stat(path.c_str(), &st) == 0 &&
                S_ISDIR(st.st_mode))
                found.push_back(path);
        }
        ::closedir(dir);
        std::sort(found.begin(), found.end());
    }
    for (std::string& d : found) {
        struct stat st {};
        if (::stat((d + "/qf").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) d += "/qf";
    }
    return found;
}

std::optional<QueueSnapshot> sendmail_queue(const RoutectlOptions& options) {
    const std::string cf = sendmail_cf(options);
    int error = 0;
    const auto cf_text = read_file(cf, error);
    if (!cf_text) {
        say(LOG_ERR, "error: cannot read " + cf + ": " + std::strerror(error));
        return std::nullopt;
    }
    QueueSnapshot snapshot;
    for (const SendmailQueueDirectory& q : sendmail_queue_directories(*cf_text)) {
        std::string problem;
        for (const std::string& directory : expand_queue_directory(q.path, problem)) {
            DIR* dir = ::opendir(directory.c_str());
            if (dir == nullptr) {
                problem = "cannot read queue directory " + directory + " (queue group " + q.group +
                          "): " + std::strerror(errno);
                break;
            }
            std::vector<std::string> names;
            while (const dirent* e = ::readdir(dir))
                if (is_sendmail_qf_name(e->d_name)) names.emplace_back(e->d_name);
            ::closedir(dir);
            for (const std::string& name : names) {
                const std::string path = directory + "/" + name;
                const auto text = read_file(path, error);
                if (!text) {
                    // Delivered or bounced since the directory was read: nothing to plan.
                    if (error != ENOENT) say(LOG_WARNING, "warning: cannot read " + path + ": " +
                                                               std::strerror(error) + " (message skipped)");
                    continue;
                }
                QfParseResult parsed = parse_sendmail_qf(*text, std::string_view(name).substr(2));
                if (parsed.message) snapshot.push_back(std::move(*parsed.message));
                else say(LOG_WARNING, "warning: " + path + ": " + parsed.error + " (message skipped)");
            }
        }
        if (!problem.empty()) {
            say(LOG_ERR, "error: " + problem);
            return std::nullopt;
        }
    }
    std::sort(snapshot.begin(), snapshot.end(), [](const QueuedMessage& a, const QueuedMessage& b) {
        return a.arrival_time != b.arrival_time ? a.arrival_time < b.arrival_time : a.queue_id < b.queue_id;
    });
    return snapshot;
}

bool sendmail_act(const RoutectlOptions& options, const RetryAction& a) {
    std::vector<std::string> run{"sendmail"};
    if (!options.sendmail_config.empty()) run.insert(run.end(), {"-C", options.sendmail_config});
    run.push_back("-qI" + a.queue_id);
    if (a.kind == RetryActionKind::expire) run.push_back("-OTimeout.queuereturn=0");
    return run_step(run);
}

}  // namespace

int command_retry(const RoutectlOptions& options) {
    openlog("routectl", LOG_PID, LOG_MAIL);
    const auto policy = load_or_report(options.config_path);
    if (!policy) return EX_CONFIG;

    const bool sendmail = options.mta == "sendmail";
    const std::optional<QueueSnapshot> snapshot = sendmail ? sendmail_queue(options) : postfix_queue(options);
    if (!snapshot) return EX_UNAVAILABLE;

    const RetryState state = read_state(options.state_file);
    const std::int64_t now = options.now.value_or(static_cast<std::int64_t>(std::time(nullptr)));
    RetryPlan plan = plan_retries(*snapshot, state, now, *policy);

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

}  // namespace route_milter
