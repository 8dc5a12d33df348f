// policy_source.hpp - the daemon's policy: the compiled image, compiled again when its sources changed.
//
// NAME
//   PolicySource, load_current_policy - where the daemon's policy comes from, and getting it.
// DESCRIPTION
//   The daemon never parses the config: it maps the policy image (policy_image_file.hpp). When
//   the image is missing, was compiled from another config, or any file it was compiled from
//   changed since, `routectl compile -c CONFIG -o IMAGE` runs in a child process (routectl
//   beside this binary), so the daemon's heap never holds a parse or a second policy. A failed
//   compile leaves the image that was there, and its report comes back for the caller to log.
#pragma once

#include "route_milter/core/policy.hpp"

#include <memory>
#include <string>
#include <vector>

namespace route_milter {

struct PolicySource {
    std::string config;    // -c
    std::string image;     // -i
    std::string compiler;  // routectl
    bool skip_user_check = false;  // -u names the user: milter.user need not exist
};

struct LoadedPolicy {
    std::shared_ptr<const Policy> policy;  // nullptr: error says why, report has the details
    std::string error;                     // one line: the compiler's summary ("FILE: 2 error(s)"), or why
    std::vector<std::string> report;       // the compiler's other lines: every error as file:line
    std::string compiled_because;  // empty: the image was current and only mapped
};

LoadedPolicy load_current_policy(const PolicySource& source);

// routectl beside this binary (/proc/self/exe).
std::string sibling_compiler();

}  // namespace route_milter
