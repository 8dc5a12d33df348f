#include "route_milter/core/policy_compiler.hpp"

#include "route_milter/core/route_table.hpp"

namespace route_milter {

Diagnostics compile_checks(Config& c) {
    Diagnostics errors;
    // Lines are in the file they were read from (an @include); a hand-made Config has one file.
    const auto file_name = [&](std::uint32_t file) -> std::string {
        return file < c.files.size() ? std::string(c.files[file]) : c.file;
    };
    const auto error = [&](const ListedAddresses::Record& at, std::string message) {
        errors.push_back({file_name(at.file), at.line, std::move(message)});
    };
    const auto line_of = [&](const RouteConfig& route, const ListedAddresses::Record& here) {
        if (route.file == here.file) return "line " + std::to_string(route.line);
        return file_name(route.file) + ":" + std::to_string(route.line);
    };
    c.listed.index([&](const ListedAddresses::Record& a, const ListedAddresses::Record& first) {
        const RouteConfig& r = c.routes[first.route];
        error(a, "routes: address listed twice, also under " + r.pattern.text() + " (" + line_of(r, a) + ") (\"" +
                     std::string(c.listed.text(a)) + "\")");
    });
    const RouteTable table(c);
    for (const ListedAddresses::Record& a : c.listed.records()) {
        if (a.route >= c.routes.size()) continue;
        const RouteConfig& r = c.routes[a.route];
        if (r.pattern.is_exact()) continue;  // the loader keeps its addresses in its domain
        const std::string_view address = c.listed.text(a);
        if (c.listed.find(address) != &a) continue;  // listed twice: reported above
        const std::string_view domain = address.substr(address.rfind('@') + 1);
        if (table.is_local_domain(domain)) {
            error(a, "routes: address is listed under " + r.pattern.text() + " but " + std::string(domain) +
                         " is one of local_domains, which no wildcard or \"*\" route takes (\"" + std::string(address) +
                         "\")");
            continue;
        }
        const RouteConfig* owner = table.route_for_domain(domain);
        // owner->pattern == r.pattern: a duplicate route domain, which the loader reports.
        if (owner != nullptr && owner != &r && owner->pattern != r.pattern)
            error(a, "routes: address is listed under " + r.pattern.text() + " but route " + owner->pattern.text() + " (" +
                         line_of(*owner, a) + ") takes its domain (\"" + std::string(address) + "\")");
    }
    sort_diagnostics(errors);
    return errors;
}

}  // namespace route_milter
