// routectl stats: the running daemon's counters as a table, per route, read from its /metrics
// (the address in the config's metrics group, or --url), for an admin without Prometheus.
#include "commands.hpp"
#include "policy_loading.hpp"

#include "route_milter/common/prometheus_text.hpp"
#include "route_milter/core/rule_names.hpp"

#include <curl/curl.h>
#include <sysexits.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <variant>

namespace route_milter {
namespace {

constexpr std::size_t max_page_bytes = 64u << 20;  // 10^5 routes x a few series fit many times over

struct Page {
    std::string body;
    bool too_big = false;
};

std::size_t collect(char* data, std::size_t size, std::size_t count, void* user) {
    auto* page = static_cast<Page*>(user);
    const std::size_t n = size * count;
    if (page->body.size() + n > max_page_bytes) {
        page->too_big = true;
        return 0;  // libcurl stops with CURLE_WRITE_ERROR
    }
    page->body.append(data, n);
    return n;
}

// GET url with libcurl: the body, or one line saying why not.
std::variant<std::string, std::string> fetch(const std::string& url) {
    const std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), &curl_easy_cleanup);
    if (!curl) return std::variant<std::string, std::string>(std::in_place_index<1>, "libcurl: cannot start");
    Page page;
    char error[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(curl.get(), CURLOPT_NOPROXY, "*");  // the daemon is this host's, never a proxy's
    curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &collect);
    curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &page);
    curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
    const CURLcode rc = curl_easy_perform(curl.get());
    if (page.too_big)
        return std::variant<std::string, std::string>(std::in_place_index<1>,
                                                      url + ": the page is over " + std::to_string(max_page_bytes) + " bytes");
    if (rc != CURLE_OK)
        return std::variant<std::string, std::string>(std::in_place_index<1>,
                                                      url + ": " + (error[0] != '\0' ? error : curl_easy_strerror(rc)));
    long status = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return std::variant<std::string, std::string>(std::in_place_index<1>, url + ": HTTP status " + std::to_string(status));
    return std::variant<std::string, std::string>(std::in_place_index<0>, std::move(page.body));
}

// One row of the table: what the daemon did with the recipients of one route.
struct Row {
    std::uint64_t accepted = 0;  // no objection (the MTA decides on), postmaster, out of scope
    std::uint64_t not_listed = 0, not_allowed = 0, auth_required = 0;  // refused (mode enforce)
    std::uint64_t warned = 0;    // a policy refusal only logged (mode warn)
    std::uint64_t other = 0;     // refused for another reason: bad address or sender, source route
};

void add(Row& row, std::string_view rule, std::string_view mode, std::uint64_t n) {
    const auto parsed = rule_names.code(rule);
    if (!parsed) {
        row.other += n;
        return;
    }
    Decision d;
    d.rule = *parsed;
    d.mode = mode == "warn" ? Mode::warn : Mode::enforce;
    if (!d.rejects()) row.accepted += n;
    else if (d.warns()) row.warned += n;
    else if (d.rule == Rule::not_listed) row.not_listed += n;
    else if (d.rule == Rule::not_allowed) row.not_allowed += n;
    else if (d.rule == Rule::auth_required) row.auth_required += n;
    else row.other += n;
}

void print_row(const std::string& route, const Row& r) {
    std::printf("%-32s %10" PRIu64 " %10" PRIu64 " %11" PRIu64 " %13" PRIu64 " %8" PRIu64 " %8" PRIu64 "\n", route.c_str(),
                r.accepted, r.not_listed, r.not_allowed, r.auth_required, r.warned, r.other);
}

int command_stats(const std::string& path, std::string url) {
    if (url.empty()) {
        const std::optional<Config> config = load_config_or_report(path);
        if (!config) return EX_CONFIG;
        if (!config->metrics) {
            std::fprintf(stderr, "routectl: %s has no metrics group: the daemon serves no counters "
                                 "(add metrics = { listen = \"inet:9101\"; }; and restart it, or give --url)\n",
                         path.c_str());
            return EX_CONFIG;
        }
        url = metrics_url(*config->metrics);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    auto fetched = fetch(url);
    curl_global_cleanup();
    if (fetched.index() == 1) {
        std::fprintf(stderr, "routectl: cannot read the daemon's counters: %s\n", std::get<1>(fetched).c_str());
        return EX_UNAVAILABLE;
    }
    auto parsed = parse_exposition(std::get<0>(fetched));
    if (auto* why = std::get_if<std::string>(&parsed)) {
        std::fprintf(stderr, "routectl: %s: not Prometheus text: %s\n", url.c_str(), why->c_str());
        return EX_PROTOCOL;
    }
    const auto& samples = std::get<std::vector<Sample>>(parsed);
    std::map<std::string, Row> rows;  // by route; "none" printed last
    Row total;
    bool found = false;
    std::map<std::string, double> scalars;
    std::string digest;
    std::uint64_t reloads_ok = 0, reloads_failed = 0;
    for (const Sample& s : samples) {
        if (s.name == "route_milter_decisions_total") {
            const auto n = static_cast<std::uint64_t>(s.value);
            add(rows[std::string(s.label("route"))], s.label("rule"), s.label("mode"), n);
            add(total, s.label("rule"), s.label("mode"), n);
        } else if (s.name == "route_milter_config_info") {
            digest = std::string(s.label("digest"));
        } else if (s.name == "route_milter_reloads_total") {
            (s.label("result") == "ok" ? reloads_ok : reloads_failed) += static_cast<std::uint64_t>(s.value);
        } else {
            scalars[s.name] = s.value;
        }
        found = found || s.name.rfind("route_milter_", 0) == 0;
    }
    if (!found) {
        std::fprintf(stderr, "routectl: %s: no route_milter metrics on the page\n", url.c_str());
        return EX_PROTOCOL;
    }
    const auto scalar = [&](const char* name) { return static_cast<std::uint64_t>(scalars[name]); };
    std::printf("%s\n", url.c_str());
    std::printf("config digest %s; %" PRIu64 " routes (%" PRIu64 " in warn mode); last reload %s; reloads %" PRIu64
                " ok, %" PRIu64 " failed\n",
                digest.c_str(), scalar("route_milter_routes"), scalar("route_milter_routes_in_warn_mode"),
                scalars["route_milter_config_last_reload_successful"] != 0 ? "ok" : "FAILED (the old rules run)",
                reloads_ok, reloads_failed);
    std::printf("%" PRIu64 " connections, %" PRIu64 " recipients, %" PRIu64 " answered 4xx (internal failure)\n\n",
                scalar("route_milter_connections_total"), scalar("route_milter_rcpt_total"),
                scalar("route_milter_rcpt_tempfails_total"));
    std::printf("%-32s %10s %10s %11s %13s %8s %8s\n", "route", "accepted", "not-listed", "not-allowed", "auth-required",
                "warned", "other");
    for (const auto& [route, row] : rows)
        if (route != "none") print_row(route, row);
    if (const auto none = rows.find("none"); none != rows.end()) print_row("(no route)", none->second);
    print_row("total", total);
    std::printf("\naccepted: no objection from the milter (the MTA's own checks follow); warned: would have been "
                "refused (mode warn); other: bad address or sender, source-routed address, TLS required\n");
    return EX_OK;
}

}  // namespace

const RoutectlCommand stats_command{
    "stats", "print the running daemon's counters per route (read from its /metrics)", {{"url", 0, "URL", false, "read URL (http://HOST:PORT/metrics) instead of the config's metrics.listen"}},
    nullptr,
    [](const CommandArguments& a) { return command_stats(a.config_path, a.value_or("url", "")); }};

}  // namespace route_milter
