// open_relay.cpp - route patterns that would make an open relay; see open_relay.hpp.
#include "route_milter/config/open_relay.hpp"

#include <libpsl.h>

#include <memory>

namespace route_milter {
namespace {

struct PslFree {
    void operator()(psl_ctx_t* p) const { psl_free(p); }
};

// Loaded once, on first use, and kept: the list is a few hundred kB, read-only once loaded.
const psl_ctx_t* suffix_list() {
    static const std::unique_ptr<psl_ctx_t, PslFree> latest(psl_latest(nullptr));
    return latest ? latest.get() : psl_builtin();
}

}  // namespace

std::optional<std::string> open_relay_reason(const RoutePattern& pattern) {
    if (pattern.is_catch_all()) return "every domain";
    if (!pattern.is_wildcard()) return std::nullopt;
    const std::string base(pattern.base());
    const psl_ctx_t* list = suffix_list();
    if (list != nullptr && psl_is_public_suffix2(list, base.c_str(), PSL_TYPE_ICANN | PSL_TYPE_NO_STAR_RULE) != 0)
        return "every domain under " + base + " (a public suffix)";
    return std::nullopt;
}

}  // namespace route_milter
