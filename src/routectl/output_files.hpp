// output_files.hpp - writes generated files into a directory, all or nothing.
//
// Every changed file is first written in full to a temporary file in the same directory (mode
// set before any byte is written, whatever the umask); only when all of them are complete are
// they renamed over the old ones. A file whose bytes and mode already match is not touched, so
// rerunning with an unchanged config changes nothing (not even an mtime).
#pragma once

#include "route_milter/postfix_maps.hpp"

#include <string>
#include <vector>

namespace route_milter {

struct WriteResult {
    std::vector<std::string> changed;  // names written
    std::string error;                 // empty on success; then nothing was replaced
};

WriteResult write_files_atomically(const std::string& directory, const std::vector<RenderedFile>& files);

}  // namespace route_milter
