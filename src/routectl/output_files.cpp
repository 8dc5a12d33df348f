#include "output_files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace route_milter {
namespace {

bool same_file(const std::string& path, const RenderedFile& file) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || (st.st_mode & 07777) != file.mode) return false;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream content;
    content << in.rdbuf();
    return in.good() || in.eof() ? content.str() == file.content : false;
}

std::string system_error(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

// Writes `content` to a new temporary file next to `path`; returns its name or sets error.
std::string write_temporary(const std::string& path, const RenderedFile& file, std::string& error) {
    std::string name = path + ".tmp.XXXXXX";
    const int fd = ::mkstemp(name.data());
    if (fd < 0) {
        error = system_error("cannot create", name);
        return {};
    }
    bool ok = ::fchmod(fd, file.mode) == 0;
    const char* p = file.content.data();
    std::size_t left = file.content.size();
    while (ok && left > 0) {
        const ssize_t n = ::write(fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { ok = false; break; }
        p += n;
        left -= static_cast<std::size_t>(n);
    }
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

}  // namespace

WriteResult write_files_atomically(const std::string& directory, const std::vector<RenderedFile>& files) {
    WriteResult result;
    for (std::size_t slash = directory.find('/', 1);; slash = directory.find('/', slash + 1)) {
        const std::string prefix = directory.substr(0, slash);  // mkdir -p
        if (!prefix.empty() && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
            result.error = system_error("cannot create directory", prefix);
            return result;
        }
        if (slash == std::string::npos) break;
    }
    std::vector<std::pair<std::string, std::string>> pending;  // temporary -> final
    for (const RenderedFile& file : files) {
        const std::string path = directory + "/" + file.name;
        if (same_file(path, file)) continue;
        const std::string temporary = write_temporary(path, file, result.error);
        if (temporary.empty()) {
            for (const auto& [t, final_path] : pending) ::unlink(t.c_str());
            return result;
        }
        pending.emplace_back(temporary, path);
        result.changed.push_back(file.name);
    }
    for (const auto& [temporary, path] : pending) {
        if (::rename(temporary.c_str(), path.c_str()) != 0) {
            result.error = system_error("cannot rename into place", path);
            for (const auto& [t, p] : pending) ::unlink(t.c_str());
            return result;
        }
    }
    if (const int dir = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY); dir >= 0) {
        ::fsync(dir);
        ::close(dir);
    }
    return result;
}

bool write_and_report(const std::string& directory, const std::vector<RenderedFile>& files, WriteResult& result) {
    result = write_files_atomically(directory, files);
    if (!result.error.empty()) {
        std::fprintf(stderr, "routectl: %s; no file in %s was changed\n", result.error.c_str(), directory.c_str());
        return false;
    }
    for (const RenderedFile& f : files) {
        const bool changed = std::find(result.changed.begin(), result.changed.end(), f.name) != result.changed.end();
        std::printf("%-26s %s\n", f.name.c_str(), changed ? "written" : "unchanged");
    }
    return true;
}

bool table_needs_rebuild(const std::string& path, const WriteResult& written, const std::string& name) {
    if (std::find(written.changed.begin(), written.changed.end(), name) != written.changed.end()) return true;
    struct stat source {}, db {};
    if (::stat((path + ".db").c_str(), &db) != 0 || ::stat(path.c_str(), &source) != 0) return true;
    return db.st_mtim.tv_sec < source.st_mtim.tv_sec ||
           (db.st_mtim.tv_sec == source.st_mtim.tv_sec && db.st_mtim.tv_nsec < source.st_mtim.tv_nsec);
}

std::string absolute_path(const std::string& path) {
    if (!path.empty() && path.front() == '/') return path;
    char cwd[PATH_MAX];
    return ::getcwd(cwd, sizeof cwd) != nullptr ? std::string(cwd) + "/" + path : path;
}

}  // namespace route_milter
