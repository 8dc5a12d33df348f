#include "route_milter/image/policy_image_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "route_milter/common/fd.hpp"

namespace route_milter {

namespace {

struct Mapping {
    void* at = nullptr;
    std::size_t size = 0;
    ~Mapping() {
        if (at != nullptr) ::munmap(at, size);
    }
};

std::int64_t ns_of(const struct statx_timestamp& t) { return t.tv_sec * 1'000'000'000LL + t.tv_nsec; }

}  // namespace

namespace {

// statx of `name` in the directory `at` (AT_FDCWD: `name` is a path).
bool status_at(int at, const char* name, SourceFile& out) {
    struct statx st {};
    if (::statx(at, name, AT_STATX_SYNC_AS_STAT,
                STATX_TYPE | STATX_MODE | STATX_UID | STATX_GID | STATX_INO | STATX_SIZE | STATX_MTIME | STATX_CTIME,
                &st) != 0)
        return false;
    out.device = makedev(st.stx_dev_major, st.stx_dev_minor);  // as stat(2)'s st_dev, which the loader records
    out.inode = st.stx_ino;
    out.size = st.stx_size;
    out.mtime_ns = ns_of(st.stx_mtime);
    out.ctime_ns = ns_of(st.stx_ctime);
    out.mode = st.stx_mode;
    out.uid = st.stx_uid;
    out.gid = st.stx_gid;
    return true;
}

// The status of each file of a list in turn, each directory opened once: ten thousand address
// files in one directory cost one walk of its path, not ten thousand.
class StatusWalk {
public:
    bool status(std::string_view path, SourceFile& out) {
        const std::size_t slash = path.rfind('/');
        if (slash == std::string_view::npos || slash + 1 == path.size())
            return status_at(AT_FDCWD, std::string(path).c_str(), out);
        const std::string_view directory = path.substr(0, slash == 0 ? 1 : slash);
        if (directory != directory_) {
            directory_ = directory;
            dir_ = Fd(::open(directory_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
        }
        if (dir_.get() < 0) return false;  // errno from the open
        return status_at(dir_.get(), std::string(path.substr(slash + 1)).c_str(), out);
    }

private:
    std::string directory_;
    Fd dir_;
};

}  // namespace

bool source_status(const std::string& path, SourceFile& out) { return status_at(AT_FDCWD, path.c_str(), out); }

Policy::Opened open_policy_image(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {nullptr, path + ": " + std::strerror(errno)};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        return {nullptr, path + ": not a regular file"};
    }
    auto mapping = std::make_shared<Mapping>();
    mapping->size = static_cast<std::size_t>(st.st_size);
    if (mapping->size != 0) {
        void* at = ::mmap(nullptr, mapping->size, PROT_READ, MAP_SHARED, fd, 0);
        if (at == MAP_FAILED) {
            const int e = errno;
            ::close(fd);
            return {nullptr, path + ": cannot map: " + std::strerror(e)};
        }
        mapping->at = at;
    }
    ::close(fd);
    const image::Bytes bytes(static_cast<const unsigned char*>(mapping->at), mapping->size);
    Policy::Opened opened = Policy::open(bytes, mapping);
    if (!opened.error.empty()) opened.error = path + ": " + opened.error;
    return opened;
}

bool image_is_current(const Policy& policy, const std::string& config_path, std::string& why) {
    std::error_code ec;
    const std::string config = std::filesystem::absolute(config_path, ec).lexically_normal().string();
    if (policy.header().config_path != config) {
        why = "compiled from " + policy.header().config_path;
        return false;
    }
    if (policy.header().source_count == 0) {
        why = "no source files recorded";
        return false;
    }
    bool current = true;
    StatusWalk walk;
    image::for_each_source(policy.header(), [&](std::string_view path, const SourceFile& was) {
        SourceFile now;
        const std::string name(path);
        if (!walk.status(path, now)) why = name + ": " + std::strerror(errno);
        else if (!was.same_as(now)) why = name + (was.settled ? " changed" : " had just changed when it was read");
        else return true;
        current = false;
        return false;
    });
    return current;
}

}  // namespace route_milter
