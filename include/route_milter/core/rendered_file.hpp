// rendered_file.hpp - one file a generator produced, before anything is written.
//
// The Postfix and Sendmail generators return these; routectl writes them (output_files) and
// compiles the keyed tables with the MTA's own tool (postmap, makemap).
#pragma once

#include <string>

namespace route_milter {

struct RenderedFile {
    std::string name;     // file name inside the output directory
    std::string content;
    unsigned mode = 0644;
    bool compile_map = false;  // a keyed table the MTA's map tool compiles (postmap, makemap)
};

}  // namespace route_milter
