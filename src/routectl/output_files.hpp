// output_files.hpp - writes generated files (and their indexed tables) into a directory, all or nothing.
//
// write_files_atomically(directory, files, tool)
//   Every changed file is first written in full to a temporary file in the same directory (mode
//   set before any byte is written, whatever the umask). With a tool, each keyed table that
//   changed, or whose indexed file (.db, .cdb, .lmdb: the tool's suffix) is missing or older than
//   it, is compiled from a temporary copy into a temporary indexed file, written after that copy
//   (Postfix warns about an indexed file older than its text). Only when all of that succeeded
//   are they renamed over the old ones, each old file first kept as a hard link (a backup: same
//   inode, so bytes, mode, owner and mtime). A
//   failed rename undoes the renames before it: each backup is renamed back (or the new file
//   removed where there was none); the backups go only once every rename succeeded.
//   A file that replaces another keeps what let others read it: the old file's owner, group and
//   mode (replaced_ownership below); a new file gets the mode the generator gives and the
//   caller's owner. A symbolic link in a file's place is refused, before anything is written.
//   A file whose bytes and mode already match, and an indexed file newer than its unchanged map,
//   are not touched: rerunning with an unchanged config changes nothing (not even an mtime). A file with
//   a generator (a line per listed address) is never held whole: it is compared with the old
//   file chunk by chunk as it is generated, and generated again into the temporary file.
// DIAGNOSTICS
//   error names the operation, the path and errno (or the tool's message). restored says
//   whether every file is then the old one; it is false only when an undo step failed as well,
//   and error then also names each file left new and where its old copy is. Not covered: a
//   crash or SIGKILL between the first and the last rename (a window of a few renames) leaves
//   the files renamed so far, and the *.tmp.* files.
#pragma once

#include "route_milter/core/rendered_file.hpp"

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace route_milter {

// How keyed tables are compiled: compile(path, file) turns the table at `path` (a temporary
// holding file's content) into path + suffix and returns what went wrong, or "" on success.
struct MapTool {
    std::string name;    // "postmap", "makemap", "written": the report line reads "transport.db  postmap"
    std::string suffix;  // of the indexed file: ".db", ".cdb", ".lmdb"
    std::function<std::string(const std::string& path, const RenderedFile& file)> compile;
};

// The owner, group and mode of a file that replaces `path`, so that whoever could read the old
// one (the daemon through its group) still can, whatever the new content: the old file's owner,
// group and permission bits, less set-id and sticky bits and write for group and others, and
// less every bit for others when the new content is secret (`fresh_mode` gives others nothing:
// it holds credentials). Without an old file (or where it is no regular file, which the rename
// then meets): `fresh_mode`, owner unchanged.
struct Ownership {
    bool kept = false;  // taken from the file it replaces
    uid_t uid = 0;
    gid_t gid = 0;
    mode_t mode = 0;
    mode_t old_mode = 0;  // the replaced file's permission bits (kept only)
};
// error: the path cannot be examined, or is a symbolic link (routectl replaces files, not links).
std::optional<Ownership> replaced_ownership(const std::string& path, mode_t fresh_mode, std::string& error);
// Gives the open file `fd` (a temporary named `name`) that ownership; "" or what failed.
std::string give_ownership(int fd, const std::string& name, const Ownership& ownership);
// "PATH: mode 0664 given as 0644 (...)" when the kept mode is narrower than the old one, else "".
std::string narrowed_mode_note(const std::string& path, const Ownership& ownership);

// Writes `text` to `path` whole or not at all (a temporary file beside it, fsync, then rename;
// without `replace`, link, which refuses an existing file atomically). `ownership` receives
// what the file was given. "" on success, else what failed; a failure leaves `path` as it was.
std::string write_file_atomically(const std::string& path, const std::string& text, mode_t fresh_mode, bool replace,
                                  Ownership& ownership);

struct WriteResult {
    std::vector<std::string> changed;   // names written
    std::vector<std::string> notes;     // modes narrowed when an old file's were kept
    std::vector<std::string> compiled;  // names of the maps whose indexed file was rebuilt
    std::string error;                  // empty on success
    bool tool_failed = false;           // the error is the map tool's
    bool restored = true;               // on error: every file in the directory is the old one
    // With keep_backups: each file renamed into place and its old one's second name ("": none).
    std::vector<std::pair<std::string, std::string>> backups;
};

// keep_backups: the old files stay as hard links beside the new ones until roll_back (every
// file the old one again) or drop_backups.
WriteResult write_files_atomically(const std::string& directory, const std::vector<RenderedFile>& files,
                                   const std::optional<MapTool>& tool = std::nullopt, bool keep_backups = false);
// "" or what could not be put back.
std::string roll_back(const WriteResult& written);
void drop_backups(const WriteResult& written);

// write_files_atomically, then one line per file ("written" / "unchanged") and per rebuilt
// indexed file (the tool's name) on stdout, or the error on stderr with what it left. Returns the exit status:
// EX_OK, EX_SOFTWARE (the tool failed) or EX_CANTCREAT.
int write_and_report(const std::string& directory, const std::vector<RenderedFile>& files,
                     const std::optional<MapTool>& tool = std::nullopt);

std::string absolute_path(const std::string& path);

}  // namespace route_milter
