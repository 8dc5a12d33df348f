#include "policy_source.hpp"

#include "route_milter/common/log.hpp"
#include "route_milter/image/policy_image_file.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

extern char** environ;

namespace route_milter {

namespace {

// Runs the compiler, keeping each line it prints; its exit status, or -1 when it did not run.
int run_compiler(const PolicySource& source, std::vector<std::string>& lines) {
    std::vector<std::string> args{source.compiler, "compile", "-q", "-c", source.config, "-o", source.image};
    if (source.skip_user_check) args.emplace_back("--skip-user-check");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDERR_FILENO);
    // Nothing of the daemon's (the milter socket, connections) goes to the compiler.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, source.compiler.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipe_fds[1]);
    if (spawned != 0) {
        ::close(pipe_fds[0]);
        lines.push_back("cannot run " + source.compiler + ": " + std::strerror(spawned));
        return -1;
    }
    std::string pending;
    char buffer[4096];
    const auto flush_lines = [&](bool all) {
        std::size_t start = 0;
        for (std::size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1)
            lines.push_back(pending.substr(start, nl - start));
        pending.erase(0, start);
        if (all && !pending.empty()) lines.push_back(pending);
    };
    for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) != 0;) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        pending.append(buffer, static_cast<std::size_t>(n));
        flush_lines(false);
    }
    flush_lines(true);
    ::close(pipe_fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

std::string sibling_compiler() {
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string("routectl") : (self.parent_path() / "routectl").string();
}

LoadedPolicy load_current_policy(const PolicySource& source) {
    LoadedPolicy out;
    Policy::Opened mapped = open_policy_image(source.image);
    std::string why = mapped.error;
    if (mapped.policy && image_is_current(*mapped.policy, source.config, why)) {
        out.policy = std::move(mapped.policy);
        return out;
    }
    mapped.policy.reset();
    out.compiled_because = why;
    const int status = run_compiler(source, out.report);
    if (status != 0) {
        // Its last line sums the errors up ("FILE: 2 error(s)"), or says why nothing was written.
        if (!out.report.empty()) {
            out.error = std::move(out.report.back());
            out.report.pop_back();
        } else {
            out.error = source.config + ": not compiled (routectl compile exited with " + std::to_string(status) + ")";
        }
        return out;
    }
    for (const std::string& line : out.report) log_line(LOG_WARNING, "%s", line.c_str());
    out.report.clear();
    Policy::Opened compiled = open_policy_image(source.image);
    if (!compiled.policy) {
        out.error = compiled.error;
        return out;
    }
    out.policy = std::move(compiled.policy);
    return out;
}

}  // namespace route_milter
