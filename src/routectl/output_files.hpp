// output_files.hpp - writes generated files into a directory, all or nothing.
//
// Every changed file is first written in full to a temporary file in the same directory (mode
// set before any byte is written, whatever the umask); only when all of them are complete are
// they renamed over the old ones. A file whose bytes and mode already match is not touched, so
// rerunning with an unchanged config changes nothing (not even an mtime).
#pragma once

#include "route_milter/postfix/postfix_maps.hpp"

#include <string>
#include <vector>

namespace route_milter {

struct WriteResult {
    std::vector<std::string> changed;  // names written
    std::string error;                 // empty on success; then nothing was replaced
};

WriteResult write_files_atomically(const std::string& directory, const std::vector<RenderedFile>& files);

// write_files_atomically, then one line per file ("written" / "unchanged") on stdout, or the
// error on stderr. Returns whether the files are in place.
bool write_and_report(const std::string& directory, const std::vector<RenderedFile>& files, WriteResult& result);

// A map's .db must be (re)built: the map was just written, or its .db is missing or older.
// Skipping the others keeps reruns from touching anything.
bool table_needs_rebuild(const std::string& path, const WriteResult& written, const std::string& name);

std::string absolute_path(const std::string& path);

}  // namespace route_milter
