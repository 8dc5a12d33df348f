// safe_open.cpp - open a file only where nobody but root, the reader and its owner could have put it.
#include "route_milter/common/safe_open.hpp"

#include "route_milter/core/printable.hpp"

#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <optional>
#include <utility>
#include <variant>

namespace route_milter {

namespace {
std::string kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

std::string cannot_read(int error) { return std::string("cannot read the file (") + std::strerror(error) + ")"; }

// "alice (uid 1001)", or "uid 1001" for a user without a name.
std::string user_text(uid_t uid) {
    struct passwd pw {};
    struct passwd* found = nullptr;
    std::vector<char> buffer(4096);
    if (::getpwuid_r(uid, &pw, buffer.data(), buffer.size(), &found) == 0 && found != nullptr)
        return printable(found->pw_name, 64) + " (uid " + std::to_string(uid) + ")";
    return "uid " + std::to_string(uid);
}

std::string joined(const std::string& dir, std::string_view name) {
    if (dir.empty() || dir == ".") return std::string(name);
    return dir + (dir.back() == '/' ? "" : "/") + std::string(name);
}

// The components of `path`, without empty ones and ".".
void push_components(std::string_view path, std::deque<std::string>& to, bool front) {
    std::vector<std::string> parts;
    while (!path.empty()) {
        const std::size_t slash = std::min(path.find('/'), path.size());
        const std::string_view part = path.substr(0, slash);
        if (!part.empty() && part != ".") parts.emplace_back(part);
        path.remove_prefix(std::min(slash + 1, path.size()));
    }
    if (front) to.insert(to.begin(), parts.begin(), parts.end());
    else to.insert(to.end(), parts.begin(), parts.end());
}

constexpr unsigned max_links = 40;  // Linux's MAXSYMLINKS
}  // namespace

struct FileOpener::Place {
    Fd dir;
    struct stat st {};  // of `dir`
    std::string name;   // how it was reached, for messages
};

namespace {

std::optional<FileOpener::Place> start_at(bool absolute, std::string& why) {
    FileOpener::Place p;
    p.name = absolute ? "/" : ".";
    p.dir = Fd(::open(p.name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (p.dir.get() < 0 || ::fstat(p.dir.get(), &p.st) != 0) {
        why = cannot_read(errno);
        return std::nullopt;
    }
    return p;
}

bool trusted(uid_t uid, uid_t reader) { return uid == 0 || uid == reader; }

// Why the link `st` in `in` is not followed; nullopt when it may be.
std::optional<std::string> link_refusal(const struct stat& st, const FileOpener::Place& in, const std::string& link,
                                        uid_t reader) {
    if (!trusted(st.st_uid, reader))
        return "a symbolic link (" + link + ") made by " + user_text(st.st_uid) + ": only links that root or " +
               user_text(reader) + " made are followed; name the file itself";
    if (!trusted(in.st.st_uid, reader) || (in.st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return "a symbolic link (" + link + ") in a directory that " +
               (trusted(in.st.st_uid, reader) ? "its group or other users" : user_text(in.st.st_uid)) +
               " may change (" + in.name + ", mode " + mode_text(in.st.st_mode) + "): not followed; name the file itself";
    return std::nullopt;
}

// Walks `parts` from `from` by FileOpener's rules. to_file: the last component is the file's
// (its name goes to `last`, its lstat() to `last_st`, its directory to the result); otherwise
// each is a directory. `own` holds a directory reached on the way; the result is `from` or `own`.
const FileOpener::Place* walk(const FileOpener::Place& from, std::deque<std::string> parts, bool to_file,
                              FileOpener::Place& own, std::string& last, struct stat& last_st, std::string& why,
                              uid_t reader) {
    const FileOpener::Place* at = &from;
    unsigned links = 0;
    while (!parts.empty()) {
        const std::string part = std::move(parts.front());
        parts.pop_front();
        struct stat st {};
        if (::fstatat(at->dir.get(), part.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            why = cannot_read(errno);
            return nullptr;
        }
        if (S_ISLNK(st.st_mode)) {
            if (auto refused = link_refusal(st, *at, joined(at->name, part), reader)) {
                why = std::move(*refused);
                return nullptr;
            }
            if (++links > max_links) {
                why = cannot_read(ELOOP);
                return nullptr;
            }
            std::string target(PATH_MAX, '\0');
            const ssize_t n = ::readlinkat(at->dir.get(), part.c_str(), target.data(), target.size());
            if (n <= 0 || static_cast<std::size_t>(n) >= target.size()) {
                why = cannot_read(n < 0 ? errno : ENAMETOOLONG);
                return nullptr;
            }
            target.resize(static_cast<std::size_t>(n));
            if (target.front() == '/') {
                auto root = start_at(true, why);
                if (!root) return nullptr;
                own = std::move(*root);
                at = &own;
            }
            push_components(target, parts, true);
            continue;
        }
        if (to_file && parts.empty()) {
            last = part;
            last_st = st;
            return at;
        }
        FileOpener::Place next;
        next.dir = Fd(::openat(at->dir.get(), part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (next.dir.get() < 0 || ::fstat(next.dir.get(), &next.st) != 0) {
            why = cannot_read(errno);
            return nullptr;
        }
        next.name = joined(at->name, part);
        own = std::move(next);
        at = &own;
    }
    if (to_file) {
        why = "not a regular file (a directory)";
        return nullptr;
    }
    return at;
}

// Why the file `st` is not read from the directory `in`; nullopt when it may be.
std::optional<std::string> directory_refusal(const FileOpener::Place& in, const struct stat& st, uid_t reader) {
    if ((in.st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return "its directory (" + in.name + ") can be written by its group or other users (mode " +
               mode_text(in.st.st_mode) + "): whoever may add names to it could put any file in this one's "
               "place; run chmod go-w " + in.name;
    if (!trusted(in.st.st_uid, reader) && in.st.st_uid != st.st_uid)
        return "its directory (" + in.name + ") belongs to " + user_text(in.st.st_uid) + " and the file to " +
               user_text(st.st_uid) + ": a directory is trusted with its owner's own files only (chown the file "
               "to the directory's owner, or the directory to root)";
    return std::nullopt;
}

// Where the file named `name` in `dir` is: its directory (`own` when a link led elsewhere),
// last name and lstat(); nullptr with `why` when the rules refuse the way there.
const FileOpener::Place* file_place(const FileOpener::Place& dir, const std::string& name, FileOpener::Place& own,
                                    std::string& last, struct stat& last_st, std::string& why, uid_t reader) {
    if (name.empty() || name == "." || name == "..") {
        why = "not a regular file (a directory)";
        return nullptr;
    }
    if (::fstatat(dir.dir.get(), name.c_str(), &last_st, AT_SYMLINK_NOFOLLOW) != 0) {
        why = cannot_read(errno);
        return nullptr;
    }
    if (!S_ISLNK(last_st.st_mode)) {  // most often: no walk
        last = name;
        return &dir;
    }
    std::deque<std::string> parts{name};
    return walk(dir, std::move(parts), true, own, last, last_st, why, reader);
}

}  // namespace

FileOpener::FileOpener() : reader_(::geteuid()) {}
FileOpener::~FileOpener() = default;

const FileOpener::Place* FileOpener::directory_of(const std::string& path, std::string& name, std::string& why) {
    const std::size_t slash = path.rfind('/');
    const std::string_view dir_text =
        slash == std::string::npos ? std::string_view() : std::string_view(path).substr(0, slash == 0 ? 1 : slash);
    name = slash == std::string::npos ? path : path.substr(slash + 1);
    if (!have_directory_ || dir_text != directory_text_) {
        directory_text_.assign(dir_text);
        have_directory_ = true;
        directory_.reset();
        directory_why_.clear();
        if (auto start = start_at(!path.empty() && path.front() == '/', directory_why_)) {
            std::deque<std::string> parts;
            push_components(dir_text, parts, false);
            Place own;
            std::string unused;
            struct stat unused_st {};
            const Place* reached =
                walk(*start, std::move(parts), false, own, unused, unused_st, directory_why_, reader_);
            if (reached != nullptr)
                directory_ = std::make_unique<Place>(reached == &own ? std::move(own) : std::move(*start));
        }
    }
    if (!directory_) {
        why = directory_why_;
        return nullptr;
    }
    return directory_.get();
}

std::variant<Fd, std::string> FileOpener::open(const std::string& path, SourceFile& opened) {
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);  // before the open: any change after it is newer
    Place own;
    std::string name, last, why;
    struct stat st {};
    const Place* dir = directory_of(path, name, why);
    if (dir != nullptr) dir = file_place(*dir, name, own, last, st, why, reader_);
    if (dir == nullptr) return why;
    // The lstat() before open() keeps a device or FIFO from being opened at all (O_NONBLOCK
    // covers a FIFO swapped in between); every check is made again on the open descriptor.
    if (!S_ISREG(st.st_mode)) return "not a regular file (" + kind_of(st.st_mode) + ")";
    if (auto refused = directory_refusal(*dir, st, reader_)) return std::move(*refused);
    Fd fd(::openat(dir->dir.get(), last.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) return cannot_read(errno);
    if (::fstat(fd.get(), &st) != 0) return cannot_read(errno);
    if (!S_ISREG(st.st_mode)) return "not a regular file (" + kind_of(st.st_mode) + ")";
    if (auto refused = directory_refusal(*dir, st, reader_)) return std::move(*refused);
    opened = source_file_of(st, now);
    return fd;
}

std::optional<std::string> read_to_end(const Fd& fd, std::uint64_t size, std::size_t max_bytes, std::string_view limit,
                                       std::vector<char>& buffer, const std::function<void(std::string_view)>& chunk) {
    const auto too_big = [&](std::uint64_t bytes) {
        return "too big (" + std::to_string(bytes) + " bytes; " + std::string(limit) + ")";
    };
    if (size > max_bytes) return too_big(size);
    std::uint64_t total = 0;
    for (;;) {
        // One byte past the size: a short read then is the end, with no second read to see it.
        const std::size_t want =
            total < size ? static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - total + 1)) : buffer.size();
        const ssize_t n = ::read(fd.get(), buffer.data(), want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return cannot_read(errno);
        if (n == 0) return std::nullopt;
        total += static_cast<std::size_t>(n);
        if (total > max_bytes) return too_big(total);
        chunk(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
        if (static_cast<std::size_t>(n) < want && total == size) return std::nullopt;
    }
}

SourceFile source_file_of(const struct stat& st, const struct timespec& now) {
    const auto ns = [](const struct timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; };
    SourceFile f;
    f.device = st.st_dev;
    f.inode = st.st_ino;
    f.size = static_cast<std::uint64_t>(st.st_size);
    f.mtime_ns = ns(st.st_mtim);
    f.ctime_ns = ns(st.st_ctim);
    f.mode = st.st_mode;
    f.uid = st.st_uid;
    f.gid = st.st_gid;
    f.settled = f.ctime_ns <= ns(now) - source_settle_ns;
    return f;
}

std::string mode_text(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

}  // namespace route_milter
