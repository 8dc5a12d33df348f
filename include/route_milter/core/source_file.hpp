// source_file.hpp - the identity of a file a policy was compiled from, as it was read.
//
// The policy image records one for each file (the config, its @includes, every address file),
// as Dovecot's binary config records its sources: a later check compares each recorded identity
// with the file's status now and compiles again when any differs. A write, chmod, chown or
// rename-over changes ctime, which no one can set back.
#pragma once

#include <cstdint>

namespace route_milter {

struct SourceFile {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::uint32_t mode = 0;  // st_mode, type bits included
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    // The file had been unchanged for a while when it was read (its ctime at least
    // source_settle_ns before the read): a write within the same clock tick as the read could
    // otherwise leave every field above as it was. An unsettled source is never taken as unchanged.
    bool settled = false;

    bool same_as(const SourceFile& now) const {
        return settled && device == now.device && inode == now.inode && size == now.size &&
               mtime_ns == now.mtime_ns && ctime_ns == now.ctime_ns && mode == now.mode && uid == now.uid &&
               gid == now.gid;
    }
};

inline constexpr std::int64_t source_settle_ns = 2'000'000'000;

}  // namespace route_milter
