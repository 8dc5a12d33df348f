#include "route_milter/postfix/postfix_tables.hpp"

#include "route_milter/core/printable.hpp"
#include "route_milter/postfix/postmap_reading.hpp"

#include <cdb.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

namespace route_milter {
namespace {

std::string system_error(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

// Hands the file's bytes to `sink` in chunks; "" or what failed.
std::string read_text(const std::string& path, const std::function<bool(std::string_view)>& sink) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return system_error("cannot open", path);
    std::string buffer(256 * 1024, '\0');
    std::string error;
    for (;;) {
        const ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) error = system_error("cannot read", path);
        if (n <= 0 || !sink(std::string_view(buffer.data(), static_cast<std::size_t>(n)))) break;
    }
    ::close(fd);
    return error;
}

// Each entry of the text to `table`, in text order; a key that sorts at or before the last one
// is looked for in the table first (Table: exists(key) 1/0/-1, add(key, value, after_last)).
template <class Table>
std::string add_entries(const std::string& source, bool utf8, Table& table, std::vector<std::string>& warnings) {
    PostmapReader reader(utf8);
    std::string last, error;
    bool have_last = false;
    std::vector<std::string> duplicates;
    const PostmapEntrySink sink = [&](const PostmapEntry& e) {
        // string_view compares as memcmp, shorter first: LMDB's order, and the renderer's std::string order.
        const bool after_last = !have_last || e.key > last;
        if (!after_last) {
            const int exists = table.exists(e.key);
            if (exists < 0) {
                error = table.error();
                return false;
            }
            if (exists > 0) {
                duplicates.push_back("line " + std::to_string(e.line) + ": duplicate entry \"" + printable(e.key, 200) +
                                     "\" (as Postfix folds it): the first one is kept, as postmap does");
                return true;
            }
        }
        if (!table.add(e.key, e.value, after_last)) {
            error = table.error();
            return false;
        }
        if (after_last) {
            last.assign(e.key);
            have_last = true;
        }
        return true;
    };
    const std::string read_error = read_text(source, [&](std::string_view chunk) { return reader.feed(chunk, sink); });
    if (error.empty() && read_error.empty()) reader.finish(sink);
    warnings = reader.warnings();
    warnings.insert(warnings.end(), duplicates.begin(), duplicates.end());
    return error.empty() ? read_error : error;
}

class CdbTable {
public:
    CdbTable(int fd, std::string path) : fd_(fd), path_(std::move(path)) {
        if (cdb_make_start(&make_, fd_) != 0) error_ = system_error("cannot start a cdb in", path_);
    }
    CdbTable(const CdbTable&) = delete;
    CdbTable& operator=(const CdbTable&) = delete;
    ~CdbTable() {
        if (!finished_) cdb_make_finish(&make_);  // frees its record lists; the file is removed anyway
    }

    int exists(std::string_view key) {
        const int found = cdb_make_exists(&make_, key.data(), static_cast<unsigned>(key.size()));
        if (found < 0) error_ = system_error("cannot read back", path_);
        return found;
    }
    bool add(std::string_view key, std::string_view value, bool) {
        if (cdb_make_add(&make_, key.data(), static_cast<unsigned>(key.size()), value.data(),
                         static_cast<unsigned>(value.size())) == 0)
            return true;
        error_ = system_error("cannot write", path_);
        return false;
    }
    std::string finish() {
        finished_ = true;
        return cdb_make_finish(&make_) == 0 ? std::string() : system_error("cannot write", path_);
    }
    const std::string& error() const { return error_; }

private:
    int fd_;
    std::string path_;
    struct cdb_make make_ {};
    bool finished_ = false;
    std::string error_;
};

std::string write_cdb(const std::string& source, const std::string& path, bool utf8, std::vector<std::string>& warnings) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return system_error("cannot create", path);
    std::string error;
    {
        CdbTable table(fd, path);
        error = table.error();
        if (error.empty()) error = add_entries(source, utf8, table, warnings);
        if (error.empty()) error = table.finish();
    }
    if (::close(fd) != 0 && error.empty()) error = system_error("cannot write", path);
    if (!error.empty()) ::unlink(path.c_str());
    return error;
}

std::string lmdb_error(const std::string& what, const std::string& path, int status) {
    return what + " " + path + ": " + mdb_strerror(status);
}

// The environment of one LMDB file, with its one write transaction.
class LmdbTable {
public:
    LmdbTable(const std::string& path, std::size_t map_bytes) : path_(path) {
        // The file exists already (created 0600): the mode LMDB would create it with is not used.
        int status = mdb_env_create(&env_);
        if (status == 0) status = mdb_env_set_mapsize(env_, map_bytes);
        // As Postfix opens it: the file itself, no lock file; synced by the caller.
        if (status == 0) status = mdb_env_open(env_, path.c_str(), MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC, 0600);
        if (status == 0) status = mdb_txn_begin(env_, nullptr, 0, &txn_);
        if (status == 0) status = mdb_dbi_open(txn_, nullptr, 0, &dbi_);
        if (status != 0) fail("cannot open an LMDB table in", status);
    }
    LmdbTable(const LmdbTable&) = delete;
    LmdbTable& operator=(const LmdbTable&) = delete;
    ~LmdbTable() {
        if (txn_ != nullptr) mdb_txn_abort(txn_);
        if (env_ != nullptr) mdb_env_close(env_);
    }

    int exists(std::string_view key) {
        MDB_val k = with_nul(key, key_), v{};
        const int status = mdb_get(txn_, dbi_, &k, &v);
        if (status == 0) return 1;
        if (status == MDB_NOTFOUND) return 0;
        fail("cannot read back", status);
        return -1;
    }
    bool add(std::string_view key, std::string_view value, bool after_last) {
        MDB_val k = with_nul(key, key_), v = with_nul(value, value_);
        // In order, appended: pages are filled, no search. A key in the table already cannot come here (exists()).
        const int status = mdb_put(txn_, dbi_, &k, &v, after_last ? MDB_APPEND : MDB_NOOVERWRITE);
        if (status == 0) return true;
        status_ = status;
        if (status == MDB_BAD_VALSIZE)
            error_ = "cannot write " + path_ + ": the key \"" + printable(key, 200) + "\" is longer than LMDB's " +
                     std::to_string(mdb_env_get_maxkeysize(env_) - 1) + " bytes";
        else
            fail("cannot write", status);
        return false;
    }
    std::string finish() {
        const int status = mdb_txn_commit(txn_);
        txn_ = nullptr;
        if (status != 0) {
            status_ = status;
            fail("cannot write", status);
        }
        return error_;
    }
    const std::string& error() const { return error_; }
    int status() const { return status_; }

private:
    // Postfix's lmdb convention: a key or value with its C string's NUL.
    static MDB_val with_nul(std::string_view s, std::string& buffer) {
        buffer.assign(s);
        buffer.push_back('\0');
        return MDB_val{buffer.size(), buffer.data()};
    }
    void fail(const char* what, int status) {
        status_ = status;
        error_ = lmdb_error(what, path_, status);
    }

    std::string path_;
    MDB_env* env_ = nullptr;
    MDB_txn* txn_ = nullptr;
    MDB_dbi dbi_ = 0;
    std::string key_, value_;
    int status_ = 0;
    std::string error_;
};

std::string write_lmdb(const std::string& source, const std::string& path, bool utf8, std::vector<std::string>& warnings) {
    // The map is address space, not file: the file grows with what is written. An entry takes
    // at most about 8 times its text line (node header, NULs, half-full pages, an overflow page's
    // rest); a full map starts again twice as big.
    struct stat st {};
    if (::stat(source.c_str(), &st) != 0) return system_error("cannot examine", source);
    std::size_t map_bytes = 8 * static_cast<std::size_t>(st.st_size) + (1U << 20);
    for (int attempt = 0;; ++attempt) {
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) return system_error("cannot create", path);
        ::close(fd);
        std::string error;
        int status = 0;
        {
            LmdbTable table(path, map_bytes);
            error = table.error();
            if (error.empty()) error = add_entries(source, utf8, table, warnings);
            if (error.empty()) error = table.finish();
            status = table.status();
        }
        if (error.empty()) return {};
        ::unlink(path.c_str());
        if (status != MDB_MAP_FULL || attempt == 4) return error;
        map_bytes *= 2;
    }
}

}  // namespace

std::string write_postfix_table(PostfixTableType type, const std::string& source, const std::string& path, bool utf8,
                                std::vector<std::string>& warnings) {
    warnings.clear();
    switch (type) {
    case PostfixTableType::cdb: return write_cdb(source, path, utf8, warnings);
    case PostfixTableType::lmdb: return write_lmdb(source, path, utf8, warnings);
    case PostfixTableType::hash: break;
    }
    return "routectl writes no " + std::string(postfix_table_type_names.name(type)) + " table itself (postmap does)";
}

}  // namespace route_milter
