// policy_image_file.hpp - the policy image on disk: written once, mapped read-only.
//
// NAME
//   write_policy_image, open_policy_image, image_is_current, policy_in_memory
// DESCRIPTION
//   write_policy_image writes a compiled Config (compile_checks has indexed its listed
//   addresses) as a policy image (core/policy_image.hpp) in one pass: into a temporary file
//   beside `path`, fsynced, then renamed over it and the directory fsynced, so a reader finds
//   the old image or the new one whole and a failed write leaves the old one byte for byte.
//   open_policy_image maps an image read-only (its pages are the file's, shared by every
//   process that maps it, never the heap's) and checks it (Policy::open).
//   image_is_current: the image was compiled from `config_path` and every source file it
//   records is unchanged now (SourceFile::same_as).
//   policy_in_memory: the image of a Config in an anonymous file, mapped (routectl query, tests).
#pragma once

#include "route_milter/core/config.hpp"
#include "route_milter/core/policy.hpp"

#include <string>

namespace route_milter {

// "" on success, else why the image could not be written (naming the path).
std::string write_policy_image(const Config& config, const std::string& path);

Policy::Opened open_policy_image(const std::string& path);

// Whether `policy` is the current image of the config at `config_path` (absolute or relative
// to the working directory); `why` says what changed when it is not.
bool image_is_current(const Policy& policy, const std::string& config_path, std::string& why);

Policy::Opened policy_in_memory(const Config& config);

// The file a source's status is taken from now: what SourceFile::same_as compares.
bool source_status(const std::string& path, SourceFile& out);

}  // namespace route_milter
