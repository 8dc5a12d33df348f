#include "route_milter/sendmail/sendmail_queue.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

namespace route_milter {
namespace {

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


std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

std::string_view unbracket(std::string_view s) {
    s = trim(s);
    if (s.size() >= 2 && s.front() == '<' && s.back() == '>') s = s.substr(1, s.size() - 2);
    return s;
}

template <typename F>
void for_each_line(std::string_view text, F&& f) {
    while (!text.empty()) {
        const std::size_t end = text.find('\n');
        f(text.substr(0, end));
        text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    }
}

std::optional<std::int64_t> number(std::string_view s) {
    s = trim(s);
    std::int64_t value = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
    return value;
}

}  // namespace

std::vector<SendmailQueueDirectory> sendmail_queue_directories(std::string_view sendmail_cf) {
    std::string base = "/var/spool/mqueue";
    std::vector<SendmailQueueDirectory> groups;
    for_each_line(sendmail_cf, [&](std::string_view line) {
        if (line.rfind("O QueueDirectory=", 0) == 0) base = std::string(trim(line.substr(17)));
        else if (line.rfind("OQ", 0) == 0) base = std::string(trim(line.substr(2)));  // old one-letter form
        else if (line.size() > 1 && line.front() == 'Q') {
            const std::size_t comma = line.find(',');
            SendmailQueueDirectory g{std::string(trim(line.substr(1, comma == std::string_view::npos ? line.npos : comma - 1))),
                                     {}};
            std::string_view rest = comma == std::string_view::npos ? std::string_view() : line.substr(comma + 1);
            while (!rest.empty()) {
                const std::size_t next = rest.find(',');
                const std::string_view field = trim(rest.substr(0, next));
                if (field.rfind("P=", 0) == 0 || field.rfind("Path=", 0) == 0)
                    g.path = std::string(trim(field.substr(field.find('=') + 1)));
                rest.remove_prefix(next == std::string_view::npos ? rest.size() : next + 1);
            }
            if (!g.group.empty()) groups.push_back(std::move(g));
        }
    });
    std::vector<SendmailQueueDirectory> out{{"mqueue", base}};
    for (SendmailQueueDirectory& g : groups) {
        if (g.path.empty()) g.path = base;  // a group without P= uses the base directory
        const bool seen = std::any_of(out.begin(), out.end(), [&](const auto& o) { return o.path == g.path; });
        if (!seen) out.push_back(std::move(g));
    }
    return out;
}

bool is_sendmail_qf_name(std::string_view file_name) {
    return file_name.size() > 2 && file_name.rfind("qf", 0) == 0 &&
           std::all_of(file_name.begin() + 2, file_name.end(),
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); });
}

QfParseResult parse_sendmail_qf(std::string_view text, std::string_view queue_id) {
    QfParseResult result;
    QueuedMessage m;
    m.queue_id = std::string(queue_id);
    bool have_time = false, complete = false;
    std::int64_t tries = 0;
    std::string status;
    std::string error;
    unsigned line_number = 0;
    for_each_line(text, [&](std::string_view line) {
        ++line_number;
        if (!error.empty() || complete || line.empty() || line.front() == ' ' || line.front() == '\t') return;
        const char code = line.front();
        const std::string_view value = line.substr(1);
        switch (code) {
        case 'T':
            if (const auto t = number(value)) {
                m.arrival_time = *t;
                have_time = true;
            } else {
                error = "line " + std::to_string(line_number) + ": bad creation time (T)";
            }
            break;
        case 'N':
            if (const auto n = number(value)) tries = *n;
            else error = "line " + std::to_string(line_number) + ": bad number of attempts (N)";
            break;
        case 'S': m.sender = std::string(unbracket(value)); break;
        case 'M': status = std::string(trim(value)); break;
        case 'R': {
            // R<flags>:<address>; flags are letters (P, S, F, D, N, ...). Old files: R<address>.
            std::size_t i = 0;
            while (i < value.size() && ((value[i] >= 'A' && value[i] <= 'Z') || (value[i] >= 'a' && value[i] <= 'z')))
                ++i;
            const std::string_view address = i < value.size() && value[i] == ':' ? value.substr(i + 1) : value;
            m.recipients.push_back({std::string(unbracket(address)), {}});
            break;
        }
        case '.': complete = true; break;
        default: break;  // headers, macros, flags, DSN data: not needed
        }
    });
    if (error.empty() && !have_time) error = "no creation time (T line)";
    if (error.empty() && !complete) error = "incomplete queue file (no final \".\" line)";
    if (!error.empty()) {
        result.error = error;
        return result;
    }
    m.queue_name = tries > 0 ? "deferred" : "incoming";
    for (QueuedRecipient& r : m.recipients) r.delay_reason = status;
    result.message = std::move(m);
    return result;
}

SendmailQueueScan scan_sendmail_queue(const std::string& cf) {
    SendmailQueueScan scan;
    int error = 0;
    const auto cf_text = read_file(cf, error);
    if (!cf_text) {
        scan.error = "cannot read " + cf + ": " + std::strerror(error);
        return scan;
    }
    QueueSnapshot& snapshot = scan.messages;
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
                    if (error != ENOENT)
                        scan.warnings.push_back("cannot read " + path + ": " + std::strerror(error) + " (message skipped)");
                    continue;
                }
                QfParseResult parsed = parse_sendmail_qf(*text, std::string_view(name).substr(2));
                if (parsed.message) snapshot.push_back(std::move(*parsed.message));
                else scan.warnings.push_back(path + ": " + parsed.error + " (message skipped)");
            }
        }
        if (!problem.empty()) {
            scan.error = problem;
            scan.messages.clear();
            return scan;
        }
    }
    std::sort(snapshot.begin(), snapshot.end(), [](const QueuedMessage& a, const QueuedMessage& b) {
        return a.arrival_time != b.arrival_time ? a.arrival_time < b.arrival_time : a.queue_id < b.queue_id;
    });
    return scan;
}

}  // namespace route_milter
