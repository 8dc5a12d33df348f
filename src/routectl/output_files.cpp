#include "output_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>

namespace route_milter {
namespace {

// Reads exactly `size` bytes (fewer only at the end of the file); false on a read error.
bool read_full(int fd, char* to, std::size_t size, std::size_t& got) {
    got = 0;
    while (got < size) {
        const ssize_t n = ::read(fd, to + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    return true;
}

// The old file has the mode it would be given and the file's bytes: compared chunk by chunk as
// they are generated, the first difference stops the generator (the content is never held whole).
bool same_file(const std::string& path, const RenderedFile& file, mode_t mode) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0 || (st.st_mode & 07777) != mode || !S_ISREG(st.st_mode)) return false;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return false;
    std::string old;
    bool same = stream_content(file, [&](std::string_view chunk) {
        old.resize(chunk.size());
        std::size_t got = 0;
        return read_full(fd, old.data(), chunk.size(), got) && got == chunk.size() &&
               std::memcmp(old.data(), chunk.data(), got) == 0;
    });
    char extra = 0;
    std::size_t got = 0;
    same = same && read_full(fd, &extra, 1, got) && got == 0;  // nothing left over in the old file
    ::close(fd);
    return same;
}

std::string system_error(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

// Writes `content` to a new temporary file next to `path`, with `mode` before any byte; returns
// its name or sets error.
std::string write_temporary(const std::string& path, const RenderedFile& file, mode_t mode, std::string& error) {
    std::string name = path + ".tmp.XXXXXX";
    const int fd = ::mkstemp(name.data());
    if (fd < 0) {
        error = system_error("cannot create", name);
        return {};
    }
    bool ok = ::fchmod(fd, mode) == 0;
    // Streamed: a table with a line per listed address goes from the address store to the file.
    ok = ok && stream_content(file, [fd](std::string_view chunk) {
             const char* p = chunk.data();
             std::size_t left = chunk.size();
             while (left > 0) {
                 const ssize_t n = ::write(fd, p, left);
                 if (n < 0 && errno == EINTR) continue;
                 if (n <= 0) {
                     if (n == 0) errno = EIO;
                     return false;
                 }
                 p += n;
                 left -= static_cast<std::size_t>(n);
             }
             return true;
         });
    ok = ok && ::fsync(fd) == 0;
    const int saved = errno;
    ok = (::close(fd) == 0) && ok;
    if (!ok) {
        errno = saved != 0 ? saved : errno;
        error = system_error("cannot write", name);
        ::unlink(name.c_str());
        return {};
    }
    return name;
}

// A map's indexed file (path + suffix) must be (re)built although the map itself is unchanged:
// it is missing or older.
bool db_is_stale(const std::string& path, const std::string& suffix) {
    struct stat source {}, db {};
    if (::stat((path + suffix).c_str(), &db) != 0 || ::stat(path.c_str(), &source) != 0) return true;
    return db.st_mtim.tv_sec < source.st_mtim.tv_sec ||
           (db.st_mtim.tv_sec == source.st_mtim.tv_sec && db.st_mtim.tv_nsec < source.st_mtim.tv_nsec);
}

bool sync_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return false;
    const bool ok = ::fsync(fd) == 0;
    ::close(fd);
    return ok;
}

void sync_directory(const std::string& directory) {
    if (const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY); dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
}

// One file of the run: complete in `temporary`, renamed to `path` at the commit.
struct Staged {
    std::string temporary;
    std::string path;
    Ownership ownership;  // given to the temporary once the map tool has run (which sees it as ours)
    std::string backup;   // second name of the old file while the renames run; "" when there was none
};

std::string give_staged_ownership(const Staged& s) {
    const int fd = ::open(s.temporary.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return system_error("cannot open", s.temporary);
    std::string error = give_ownership(fd, s.temporary, s.ownership);
    ::close(fd);
    return error;
}

// Renames every staged file into place, the old one kept as a hard link first (a rename replaces
// the name, the old inode lives on as the backup: same bytes, mode, owner and mtime). On the first
// failure the renames done so far are undone, newest first, by renaming each backup back (or
// removing the new file where there was none). Leaves no temporary and no backup behind, unless an
// undo step failed: then the error says where the old file is.
void commit(std::vector<Staged>& staged, WriteResult& result, bool keep_backups) {
    std::size_t done = 0;
    for (; done < staged.size(); ++done) {
        Staged& s = staged[done];
        struct stat st {};
        if (::lstat(s.path.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {  // a directory fails the rename below
            s.backup = s.temporary + ".old";
            if (::link(s.path.c_str(), s.backup.c_str()) != 0) {
                result.error = system_error("cannot keep the old " + s.path + " as", s.backup);
                s.backup.clear();
                break;
            }
        }
        if (::rename(s.temporary.c_str(), s.path.c_str()) != 0) {
            result.error = system_error("cannot rename into place", s.path);
            if (!s.backup.empty()) ::unlink(s.backup.c_str());
            break;
        }
    }
    for (std::size_t i = done; i < staged.size(); ++i) ::unlink(staged[i].temporary.c_str());
    if (done == staged.size()) {
        for (const Staged& s : staged) {
            if (keep_backups) result.backups.push_back({s.path, s.backup});
            else if (!s.backup.empty()) ::unlink(s.backup.c_str());
        }
        return;
    }
    for (std::size_t i = done; i-- > 0;) {
        const Staged& s = staged[i];
        if (s.backup.empty() ? ::unlink(s.path.c_str()) == 0 : ::rename(s.backup.c_str(), s.path.c_str()) == 0)
            continue;
        result.restored = false;
        result.error += "; " + (s.backup.empty() ? system_error("cannot remove the new", s.path)
                                                 : system_error("cannot put back the old " + s.path + " from", s.backup));
    }
}

}  // namespace

std::optional<Ownership> replaced_ownership(const std::string& path, mode_t fresh_mode, std::string& error) {
    Ownership o;
    o.mode = fresh_mode;
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return o;
        error = system_error("cannot examine", path);
        return std::nullopt;
    }
    if (S_ISLNK(st.st_mode)) {
        error = path + " is a symbolic link: routectl replaces a file, not a link (give the file it points to)";
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) return o;
    o.kept = true;
    o.uid = st.st_uid;
    o.gid = st.st_gid;
    o.old_mode = st.st_mode & 07777;
    o.mode = o.old_mode & ~(S_ISUID | S_ISGID | S_ISVTX | S_IWGRP | S_IWOTH);
    if ((fresh_mode & S_IRWXO) == 0) o.mode &= ~S_IRWXO;
    return o;
}

std::string give_ownership(int fd, const std::string& name, const Ownership& ownership) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return system_error("cannot examine", name);
    if (ownership.kept && (st.st_uid != ownership.uid || st.st_gid != ownership.gid) &&
        ::fchown(fd, ownership.uid, ownership.gid) != 0)
        return system_error("cannot give owner " + std::to_string(ownership.uid) + " and group " +
                                std::to_string(ownership.gid) + " (those of the file it replaces) to",
                            name);
    if (::fchmod(fd, ownership.mode) != 0) return system_error("cannot set the mode of", name);
    return {};
}

std::string narrowed_mode_note(const std::string& path, const Ownership& ownership) {
    if (!ownership.kept || ownership.mode == ownership.old_mode) return {};
    char text[96];
    std::snprintf(text, sizeof text, ": mode %04o of the old file given as %04o", static_cast<unsigned>(ownership.old_mode),
                  static_cast<unsigned>(ownership.mode));
    return path + text +
           ((ownership.old_mode & ~ownership.mode & S_IRWXO & ~S_IWOTH) != 0
                ? " (it holds credentials: nothing for others; no write for group and others)"
                : " (no write for group and others, no set-id or sticky bit)");
}

std::string write_file_atomically(const std::string& path, const std::string& text, mode_t fresh_mode, bool replace,
                                  Ownership& ownership) {
    std::string error;
    const std::optional<Ownership> given = replace ? replaced_ownership(path, fresh_mode, error) : Ownership{.mode = fresh_mode};
    if (!given) return error;
    ownership = *given;
    std::string temp = path + ".tmp.XXXXXX";
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) return system_error("cannot create a temporary file for", path);
    // The owner, group and mode before the first byte: the content may hold passwords.
    error = give_ownership(fd, temp, ownership);
    for (std::size_t done = 0; error.empty() && done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n == 0) errno = EIO;
            error = system_error("cannot write", temp);
        } else {
            done += static_cast<std::size_t>(n);
        }
    }
    if (error.empty() && ::fsync(fd) != 0) error = system_error("cannot write", temp);
    if (::close(fd) != 0 && error.empty()) error = system_error("cannot write", temp);
    // Without `replace`, link() refuses an existing file atomically (no check-then-write race).
    if (error.empty() && (replace ? ::rename(temp.c_str(), path.c_str()) : ::link(temp.c_str(), path.c_str())) != 0)
        error = errno == EEXIST ? path + " exists"
                                : system_error(replace ? "cannot rename into place" : "cannot link into place", path);
    if (!error.empty() || !replace) ::unlink(temp.c_str());
    const std::size_t slash = path.rfind('/');
    if (error.empty()) sync_directory(slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash));
    return error;
}

WriteResult write_files_atomically(const std::string& directory, const std::vector<RenderedFile>& files,
                                   const std::optional<MapTool>& tool, bool keep_backups) {
    WriteResult result;
    for (std::size_t slash = directory.find('/', 1);; slash = directory.find('/', slash + 1)) {
        const std::string prefix = directory.substr(0, slash);  // mkdir -p
        if (!prefix.empty() && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
            result.error = system_error("cannot create directory", prefix);
            return result;
        }
        if (slash == std::string::npos) break;
    }
    std::vector<Staged> staged;
    std::vector<std::string> scratch;  // temporary copies of unchanged maps, only to compile them
    for (const RenderedFile& file : files) {
        const std::string path = directory + "/" + file.name;
        const std::optional<Ownership> ownership = replaced_ownership(path, file.mode, result.error);
        if (!ownership) break;
        const bool changed = !same_file(path, file, ownership->mode);
        const bool compile = tool && file.compile_map && (changed || db_is_stale(path, tool->suffix));
        if (!changed && !compile) continue;
        const std::string temporary = write_temporary(path, file, ownership->mode, result.error);
        if (temporary.empty()) break;
        if (changed) {
            staged.push_back({temporary, path, *ownership, {}});
            result.changed.push_back(file.name);
            if (std::string note = narrowed_mode_note(path, *ownership); !note.empty()) result.notes.push_back(note);
        } else {
            scratch.push_back(temporary);
        }
        if (!compile) continue;
        const std::string compiled = temporary + tool->suffix;
        result.error = tool->compile(temporary, file);
        while (!result.error.empty() && std::isspace(static_cast<unsigned char>(result.error.back())))
            result.error.pop_back();
        result.tool_failed = !result.error.empty();
        if (result.error.empty() && !sync_file(compiled)) result.error = system_error("cannot write", compiled);
        // The indexed file keeps its own old owner and mode; a first one takes its map's.
        const std::string db_path = path + tool->suffix;
        std::optional<Ownership> db_ownership;
        if (result.error.empty()) db_ownership = replaced_ownership(db_path, ownership->mode, result.error);
        if (!result.error.empty()) {
            ::unlink(compiled.c_str());
            break;
        }
        staged.push_back({compiled, db_path, db_ownership->kept ? *db_ownership : *ownership, {}});
        result.compiled.push_back(file.name);
        if (std::string note = narrowed_mode_note(db_path, *db_ownership); !note.empty()) result.notes.push_back(note);
    }
    for (const Staged& s : staged) {
        if (!result.error.empty()) break;
        result.error = give_staged_ownership(s);
    }
    if (result.error.empty()) {
        commit(staged, result, keep_backups);
    } else {
        for (const Staged& s : staged) ::unlink(s.temporary.c_str());
    }
    for (const std::string& t : scratch) ::unlink(t.c_str());
    sync_directory(directory);
    if (!result.error.empty()) {
        result.changed.clear();
        result.compiled.clear();
        result.notes.clear();
    }
    return result;
}

int write_and_report(const std::string& directory, const std::vector<RenderedFile>& files,
                     const std::optional<MapTool>& tool) {
    const WriteResult result = write_files_atomically(directory, files, tool);
    if (!result.error.empty()) {
        if (result.restored)
            std::fprintf(stderr, "routectl: %s; no file in %s was changed\n", result.error.c_str(), directory.c_str());
        else
            std::fprintf(stderr, "routectl: %s; the other files in %s are the old ones\n", result.error.c_str(),
                         directory.c_str());
        return result.tool_failed ? EX_SOFTWARE : EX_CANTCREAT;
    }
    for (const std::string& note : result.notes) std::fprintf(stderr, "routectl: note: %s\n", note.c_str());
    const auto in = [](const std::vector<std::string>& names, const std::string& name) {
        return std::find(names.begin(), names.end(), name) != names.end();
    };
    for (const RenderedFile& f : files)
        std::printf("%-26s %s\n", f.name.c_str(), in(result.changed, f.name) ? "written" : "unchanged");
    for (const RenderedFile& f : files)
        if (in(result.compiled, f.name)) std::printf("%-26s %s\n", (f.name + tool->suffix).c_str(), tool->name.c_str());
    return EX_OK;
}

std::string roll_back(const WriteResult& written) {
    std::string error;
    for (auto it = written.backups.rbegin(); it != written.backups.rend(); ++it) {
        const auto& [path, backup] = *it;
        if (backup.empty() ? ::unlink(path.c_str()) == 0 : ::rename(backup.c_str(), path.c_str()) == 0) continue;
        error += (error.empty() ? "" : "; ") + (backup.empty() ? system_error("cannot remove the new", path)
                                                               : system_error("cannot put back the old " + path + " from", backup));
    }
    return error;
}

void drop_backups(const WriteResult& written) {
    for (const auto& [path, backup] : written.backups)
        if (!backup.empty()) ::unlink(backup.c_str());
}

std::string absolute_path(const std::string& path) {
    if (!path.empty() && path.front() == '/') return path;
    char cwd[PATH_MAX];
    return ::getcwd(cwd, sizeof cwd) != nullptr ? std::string(cwd) + "/" + path : path;
}

}  // namespace route_milter
