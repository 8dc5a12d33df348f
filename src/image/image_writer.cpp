#include "route_milter/image/policy_image_file.hpp"

#include "route_milter/common/fd.hpp"
#include "route_milter/core/policy_image.hpp"

#include <cdb.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

namespace route_milter {

namespace {

std::string absolute_path(const std::string& path) {
    std::error_code ec;
    const std::filesystem::path p = std::filesystem::absolute(path, ec);
    return ec ? path : p.lexically_normal().string();
}

// Adds every record of `config`'s image to `make`; false (errno set) when a write failed.
bool add_records(cdb_make& make, const Config& c) {
    const auto add = [&](std::string_view key, std::string_view value) {
        return cdb_make_add(&make, key.data(), static_cast<unsigned>(key.size()), value.data(),
                            static_cast<unsigned>(value.size())) == 0;
    };
    // The listed addresses first (a record's place in the file does not matter to a lookup), each
    // once, counted per route for the routes record.
    std::vector<std::uint32_t> listed_counts(c.routes.size(), 0);
    std::uint64_t listed = 0;
    const bool indexed = c.listed.indexed();
    for (const ListedAddresses::Record& r : c.listed.records()) {
        if (r.route >= c.routes.size()) continue;
        const std::string_view address = c.listed.text(r);
        if (indexed && c.listed.find(address) != &r) continue;
        if (!add(address, image::encode_index(r.route))) return false;
        ++listed_counts[r.route];
        ++listed;
    }
    std::string routes, patterns;
    image::encode_routes(c, listed_counts, routes, patterns);
    const std::string settings = image::encode_settings(c);
    const auto bytes = [](const std::string& s) {
        return image::Bytes(reinterpret_cast<const unsigned char*>(s.data()), s.size());
    };
    image::Header h;
    h.config_path = c.file.empty() ? std::string() : absolute_path(c.file);
    h.digest = c.digest;
    for (std::size_t i = 0; i < c.files.size(); ++i)
        h.sources.push_back({absolute_path(std::string(c.files[i])), i < c.sources.size() ? c.sources[i] : SourceFile{}});
    h.route_count = static_cast<std::uint32_t>(c.routes.size());
    h.listed_count = listed;
    h.settings = {settings.size(), image::checksum(bytes(settings))};
    h.routes = {routes.size(), image::checksum(bytes(routes))};
    h.patterns = {patterns.size(), image::checksum(bytes(patterns))};
    if (!add(image::header_key, image::encode_header(h)) || !add(image::settings_key, settings) ||
        !add(image::routes_key, routes) || !add(image::patterns_key, patterns))
        return false;
    for (std::uint32_t i = 0; i < c.routes.size(); ++i) {
        const RoutePattern& p = c.routes[i].pattern;
        const std::string value = image::encode_index(i);
        if (p.is_exact() && !add(p.text(), value)) return false;
        if (p.is_wildcard() && !add(p.suffix(), value)) return false;
    }
    return true;
}

}  // namespace

std::string write_policy_image(const Config& config, const std::string& path) {
    const std::filesystem::path target(path);
    const std::string directory = target.has_parent_path() ? target.parent_path().string() : ".";
    std::string temporary = path + ".XXXXXX";
    const Fd out(::mkstemp(temporary.data()));
    if (out.get() < 0) return "cannot create " + temporary + ": " + std::strerror(errno);
    const auto failed = [&](const std::string& what) {
        const std::string why = what + ": " + std::strerror(errno);
        ::unlink(temporary.c_str());
        return why;
    };
    // Not secret (no passwords: the image holds no route's hosts or AUTH), but the policy's own.
    if (::fchmod(out.get(), 0640) != 0) return failed("cannot set the mode of " + temporary);
    auto make = std::make_unique<cdb_make>();
    if (cdb_make_start(make.get(), out.get()) != 0 || !add_records(*make, config) || cdb_make_finish(make.get()) != 0)
        return failed("cannot write " + temporary);
    if (::fsync(out.get()) != 0) return failed("cannot write " + temporary);
    if (::rename(temporary.c_str(), path.c_str()) != 0) return failed("cannot rename " + temporary + " to " + path);
    const Fd dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir.get() >= 0) ::fsync(dir.get());
    return "";
}

Policy::Opened policy_in_memory(const Config& config) {
    const Fd file(::memfd_create("route-milter-image", MFD_CLOEXEC));
    if (file.get() < 0) return {nullptr, std::string("memfd_create: ") + std::strerror(errno)};
    auto make = std::make_unique<cdb_make>();
    if (cdb_make_start(make.get(), file.get()) != 0 || !add_records(*make, config) || cdb_make_finish(make.get()) != 0)
        return {nullptr, std::string("cannot write the image: ") + std::strerror(errno)};
    return open_policy_image("/proc/self/fd/" + std::to_string(file.get()));
}

}  // namespace route_milter
