// config_source.cpp - read the config and its @includes, checked, into one text with a line map.
#include "route_milter/config/config_source.hpp"

#include "route_milter/config/config_digest.hpp"

#include "route_milter/config/config_loader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>
#include <variant>

namespace route_milter {

SourceLocation ConfigSource::locate(unsigned text_line) const {
    auto it = std::upper_bound(segments_.begin(), segments_.end(), text_line,
                               [](unsigned line, const Segment& s) { return line < s.text_line; });
    if (it == segments_.begin()) return SourceLocation{0, text_line};
    --it;
    return SourceLocation{it->from.file, it->from.line + (text_line - it->text_line)};
}

void ConfigSource::map_from(unsigned text_line, std::uint32_t file, unsigned line) {
    if (!segments_.empty()) {
        Segment& last = segments_.back();
        if (last.from.file == file && last.from.line + (text_line - last.text_line) == line) return;  // continues
        if (last.text_line == text_line) {
            last.from = {file, line};
            return;
        }
    }
    segments_.push_back({text_line, {file, line}});
}

Fd::~Fd() {
    if (fd_ >= 0) ::close(fd_);
}

namespace {
std::string kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}
}  // namespace

// The checks are made on the open descriptor, so what is read is what was checked; the stat()
// before open() only keeps us from opening a device or FIFO at all (O_NONBLOCK covers a FIFO
// swapped in between).
std::variant<Fd, std::string> open_regular_file(const std::string& path, struct stat& st) {
    return open_regular_file_at(AT_FDCWD, path.c_str(), st);
}

std::variant<Fd, std::string> open_regular_file_at(int dir, const char* name, struct stat& st) {
    if (::fstatat(dir, name, &st, 0) != 0) return std::string("cannot read the file (") + std::strerror(errno) + ")";
    if (!S_ISREG(st.st_mode)) return "not a regular file (" + kind_of(st.st_mode) + ")";
    Fd fd(::openat(dir, name, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) return std::string("cannot read the file (") + std::strerror(errno) + ")";
    if (::fstat(fd.get(), &st) != 0) return std::string("cannot read the file (") + std::strerror(errno) + ")";
    if (!S_ISREG(st.st_mode)) return "not a regular file (" + kind_of(st.st_mode) + ")";
    return fd;
}

std::uint64_t file_status(const struct stat& st) {
    // splitmix64's finaliser over the fields, one after the other.
    std::uint64_t h = 0x9e3779b97f4a7c15u;
    const auto mix = [&h](std::uint64_t v) {
        h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
        h ^= h >> 30;
        h *= 0xbf58476d1ce4e5b9u;
        h ^= h >> 27;
        h *= 0x94d049bb133111ebu;
        h ^= h >> 31;
    };
    for (const std::uint64_t v :
         {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::uint64_t>(st.st_size), static_cast<std::uint64_t>(st.st_mode),
          static_cast<std::uint64_t>(st.st_uid), static_cast<std::uint64_t>(st.st_gid),
          static_cast<std::uint64_t>(st.st_mtim.tv_sec), static_cast<std::uint64_t>(st.st_mtim.tv_nsec),
          static_cast<std::uint64_t>(st.st_ctim.tv_sec), static_cast<std::uint64_t>(st.st_ctim.tv_nsec)})
        mix(v);
    return h != 0 ? h : 1;
}

std::int64_t unchanged_ns(const struct timespec& now, const struct stat& st) {
    const auto ns = [](const struct timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
    return ns(now) - std::max(ns(st.st_mtim), ns(st.st_ctim));
}

std::string mode_text(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

namespace {

constexpr unsigned max_include_depth = 10;  // libconfig 1.5's MAX_INCLUDE_DEPTH

struct ReadFile {
    std::string text;
    struct stat st {};
    std::int64_t unchanged_ns = 0;  // how long it had been unchanged when opened
};

// Opens, checks and reads one file; the error text otherwise.
std::variant<ReadFile, std::string> read_checked(const std::string& path, std::size_t budget) {
    ReadFile out;
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);  // before the open: any change after it is newer
    auto opened = open_regular_file(path, out.st);
    if (auto* why = std::get_if<std::string>(&opened)) return std::move(*why);
    const Fd fd = std::move(std::get<Fd>(opened));
    out.unchanged_ns = unchanged_ns(now, out.st);
    const auto too_big = [&](unsigned long long size) {
        return "too big (" + std::to_string(size) + " bytes; the config and its @includes may hold " +
               std::to_string(max_config_file_bytes) + ")";
    };
    if (static_cast<unsigned long long>(out.st.st_size) > budget)
        return too_big(static_cast<unsigned long long>(out.st.st_size));
    out.text.resize(static_cast<std::size_t>(out.st.st_size) + 1);  // +1: see the file grow
    std::size_t have = 0;
    for (;;) {
        if (have == out.text.size()) {
            if (out.text.size() > budget) return too_big(out.text.size());
            out.text.resize(std::min(out.text.size() * 2 + 4096, budget + 1));
        }
        const ssize_t n = ::read(fd.get(), out.text.data() + have, out.text.size() - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::string("cannot read the file (") + std::strerror(errno) + ")";
        if (n == 0) break;
        have += static_cast<std::size_t>(n);
    }
    if (have > budget) return too_big(have);
    out.text.resize(have);
    return out;
}

bool starts_with_include(std::string_view text, std::size_t pos, std::size_t& name_start) {
    // libconfig 1.5: include_open  ^[ \t]*@include[ \t]+\"
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    if (text.compare(pos, 8, "@include") != 0) return false;
    pos += 8;
    const std::size_t blanks = pos;
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    if (pos == blanks || pos >= text.size() || text[pos] != '"') return false;
    name_start = pos + 1;
    return true;
}

class Expander {
public:
    Expander(ConfigSource& out, std::string include_dir, std::int64_t settle_ns = INT64_MAX)
        : out_(out), include_dir_(std::move(include_dir)), settle_ns_(settle_ns) {}

    // Appends file `index` (its text given) to the output, expanding its @include lines.
    void expand(std::uint32_t index, std::string_view text, unsigned depth);

    // Reads and checks a file from disk; its index in out_.files, or nullopt with `why`.
    std::optional<std::uint32_t> open_file(const std::string& path, std::string& text, std::string& why);

private:
    void error(SourceLocation at, std::string what) {
        out_.errors.push_back({out_.files[at.file].name, at.line, std::move(what)});
    }
    void append(std::uint32_t file, unsigned line, std::string_view chunk) {
        if (chunk.empty()) return;
        out_.map_from(text_line_, file, line);
        out_.text.append(chunk);
        text_line_ += static_cast<unsigned>(std::count(chunk.begin(), chunk.end(), '\n'));
    }
    std::string resolve(const std::string& name) const {
        if (name.front() == '/' || include_dir_.empty()) return name;
        return include_dir_ + (include_dir_.back() == '/' ? "" : "/") + name;
    }
    void include(SourceLocation at, const std::string& name, unsigned depth);

    ConfigSource& out_;
    std::string include_dir_;
    std::int64_t settle_ns_;
    unsigned text_line_ = 1;
    std::vector<std::pair<dev_t, ino_t>> open_;  // the files being expanded, outermost first
};

std::optional<std::uint32_t> Expander::open_file(const std::string& path, std::string& text, std::string& why) {
    std::size_t used = out_.text.size();
    auto read = read_checked(path, max_config_file_bytes - std::min(used, max_config_file_bytes));
    if (auto* bad = std::get_if<std::string>(&read)) {
        why = std::move(*bad);
        return std::nullopt;
    }
    ReadFile& file = std::get<ReadFile>(read);
    const std::pair<dev_t, ino_t> id{file.st.st_dev, file.st.st_ino};
    if (std::find(open_.begin(), open_.end(), id) != open_.end()) {
        why = "includes itself (an @include cycle)";
        return std::nullopt;
    }
    if (file.text.find('\0') != std::string::npos) {
        why = "the file contains a NUL byte";
        return std::nullopt;
    }
    const auto index = static_cast<std::uint32_t>(out_.files.size());
    out_.files.push_back({path, file.st.st_mode & 07777, true, sha256_of(file.text), false,
                          file.unchanged_ns >= settle_ns_ ? file_status(file.st) : 0});
    if ((file.st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        error({index, 0}, "group or other users can write it; run chmod go-w (mode " + mode_text(file.st.st_mode) + ")");
    open_.push_back(id);
    text = std::move(file.text);
    return index;
}

void Expander::include(SourceLocation at, const std::string& name, unsigned depth) {
    const std::string path = resolve(name);
    const std::string label = "@include \"" + name + "\"" + (path == name ? "" : " (" + path + ")") + ": ";
    if (depth >= max_include_depth) {
        error(at, label + "includes nested more than " + std::to_string(max_include_depth) + " deep");
        out_.complete = false;
        return;
    }
    std::string text;
    std::string why;
    const auto index = open_file(path, text, why);
    if (!index) {
        error(at, label + why);
        out_.complete = false;
        return;
    }
    expand(*index, text, depth + 1);
    open_.pop_back();
}

void Expander::expand(std::uint32_t index, std::string_view text, unsigned depth) {
    enum class State { initial, comment, string };
    State state = State::initial;
    unsigned line = 1;
    unsigned opened_at = 0;  // the line the comment or string in progress began on
    bool bol = true;  // flex's yy_at_bol: at the start of the buffer or just after a '\n'
    std::size_t chunk = 0;
    unsigned chunk_line = 1;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const char c = text[pos];
        const char next = pos + 1 < text.size() ? text[pos + 1] : '\0';
        std::size_t name_start = 0;
        if (state == State::initial && bol && starts_with_include(text, pos, name_start)) {
            append(index, chunk_line, text.substr(chunk, pos - chunk));
            const SourceLocation at{index, line};
            std::string name;
            std::size_t p = name_start;
            bool closed = false;
            std::string bad;
            for (; p < text.size(); ++p) {
                if (text[p] == '"') {
                    closed = true;
                    break;
                }
                if (text[p] == '\n') break;
                if (text[p] == '\\') {
                    if (p + 1 < text.size() && (text[p + 1] == '\\' || text[p + 1] == '"')) name += text[++p];
                    else if (bad.empty()) bad = "unsupported escape in the name (only \\\\ and \\\")";
                    continue;
                }
                name += text[p];
            }
            if (!closed) {
                error(at, "@include: the name has no closing quote on its line");
                out_.complete = false;
                pos = p;  // the '\n' (or the end) is scanned normally
                chunk = pos;
                chunk_line = line;
                bol = false;
                continue;
            }
            if (!bad.empty() || name.empty()) {
                error(at, "@include \"" + name + "\": " + (name.empty() ? std::string("empty name") : bad));
                out_.complete = false;
            } else {
                include(at, name, depth);
            }
            // The rest of the line follows the included text on a line of its own.
            if (!out_.text.empty() && out_.text.back() != '\n') {
                out_.text += '\n';
                ++text_line_;
            }
            pos = p + 1;
            chunk = pos;
            chunk_line = line;
            bol = false;
            std::size_t ignored = 0;
            if (starts_with_include(text, pos, ignored)) {
                // libconfig would call this '@' garbage; on a line of its own it would be an @include.
                error(at, "syntax error: a second @include on one line (each must start a line)");
                out_.complete = false;
            }
            continue;
        }
        switch (state) {
        case State::initial:
            if (c == '"') state = State::string, opened_at = line;
            else if (c == '/' && next == '*') state = State::comment, opened_at = line, ++pos;
            else if (c == '#' || (c == '/' && next == '/'))
                while (pos + 1 < text.size() && text[pos + 1] != '\n') ++pos;  // up to the '\n'
            break;
        case State::string:
            if (c == '\\' && (next == '\\' || next == '"')) ++pos;
            else if (c == '"') state = State::initial;
            break;
        case State::comment:
            if (c == '*' && next == '/') state = State::initial, ++pos;
            break;
        }
        bol = text[pos] == '\n';
        if (bol) ++line;
        ++pos;
    }
    append(index, chunk_line, text.substr(chunk));
    if (index != 0 && state != State::initial) {
        // libconfig would carry the comment or string on into the including file.
        error({index, opened_at}, state == State::comment ? "the file ends inside a /* comment */ begun here"
                                                          : "the file ends inside a string begun here");
        out_.complete = false;
    }
}

}  // namespace

ConfigSource read_config_source_text(std::string_view text, const std::string& name) {
    ConfigSource out;
    out.files.push_back({name, 0, false, sha256_of(text)});
    if (text.find('\0') != std::string_view::npos) {
        out.errors.push_back({name, 0, "the file contains a NUL byte"});
        return out;
    }
    if (text.size() > max_config_file_bytes) {
        out.errors.push_back({name, 0, "too big (" + std::to_string(text.size()) + " bytes)"});
        return out;
    }
    out.complete = true;
    Expander(out, "").expand(0, text, 0);
    return out;
}

ConfigSource read_config_source_file(const std::string& path, std::int64_t settle_ns) {
    ConfigSource out;
    const std::size_t slash = path.rfind('/');
    Expander expander(out, slash == std::string::npos ? std::string() : path.substr(0, slash == 0 ? 1 : slash),
                      settle_ns);
    std::string text;
    std::string why;
    if (!expander.open_file(path, text, why)) {
        out.files.push_back({path, 0, false});
        out.errors.push_back({path, 0, why});
        return out;
    }
    out.complete = true;
    expander.expand(0, text, 0);
    return out;
}

}  // namespace route_milter
