// routectl check / query: validate and summarise the config; explain decisions.
#include "commands.hpp"
#include "policy_loading.hpp"

#include <sysexits.h>

#include "route_milter/core/utc_time.hpp"

#include <cstdio>
#include <ctime>

namespace route_milter {
namespace {

std::string classes(DeliveryClassSet set) {
    std::string out;
    for (const auto& [name, c] : delivery_class_names)
        if (set.contains(c)) out += (out.empty() ? "" : ", ") + std::string(name);
    return out.empty() ? "(none)" : out;
}

std::string line_of(unsigned line) { return line == 0 ? "built-in" : "line " + std::to_string(line); }

void print_route(const Config& config, const RouteConfig& r) {
    std::string target;
    for (const std::string& host : r.hosts) target += (target.empty() ? "" : ", ") + host + ":" + std::to_string(r.port);
    if (r.hosts.empty()) target = "MX lookup";
    else if (r.hosts.size() > 1) target = "hosts in order " + target;
    std::printf("  %-32s %s  deliver %s", r.pattern.text().c_str(), target.c_str(), std::string(name_of(r.deliver_to)).c_str());
    if (r.deliver_to == DeliverTo::listed)
        std::printf(" (%zu addresses)", config.listed.of_route(static_cast<std::uint32_t>(&r - config.routes.data())).size());
    std::printf("  sender %s  recipient %s  security %s  retries %d x %d min",
                std::string(name_of(r.treat_sender_as)).c_str(), std::string(name_of(r.treat_recipient_as)).c_str(),
                std::string(name_of(r.security)).c_str(), r.retries, r.retry_minutes);
    if (r.tls_verify) std::printf("  certificate verified");
    if (r.etrn) std::printf("  held until ETRN");
    if (r.auth) std::printf("  auth user %s (password hidden)", r.auth->user.c_str());
    std::printf("  mode %s", std::string(name_of(effective_mode(config, &r))).c_str());
    std::printf("  [%s]\n", line_of(r.line).c_str());
}

// The mode, and what each route whose mode differs from it softens or enforces, listed in
// full: nothing may hide in "... more". A route's warn mode rehearses its address list only.
void print_modes(const Config& config) {
    const std::size_t warned = routes_in_mode(config, Mode::warn);
    std::printf("mode: %s (%zu of %zu routes in warn mode)", std::string(name_of(config.mode)).c_str(), warned,
                config.routes.size());
    if (config.mode == Mode::warn)
        std::printf(": every policy rule is logged, not enforced, except for the routes in enforce mode below");
    std::printf("\n");
    for (const RouteConfig& r : config.routes) {
        const Mode mode = effective_mode(config, &r);
        if (mode == config.mode) continue;
        const bool lists = r.deliver_to == DeliverTo::listed;
        if (mode == Mode::warn)
            std::printf("  warn: %s (%s): %s; the IP ranges' rules (not-allowed, auth-required, tls-required) stay "
                        "enforced\n",
                        r.pattern.text().c_str(), line_of(r.line).c_str(),
                        lists ? "softens its address list only (not-listed is logged, not refused)"
                              : "softens nothing (it delivers to all addresses: no address list to rehearse)");
        else
            std::printf("  enforce: %s (%s): %s enforced for its recipients\n", r.pattern.text().c_str(),
                        line_of(r.line).c_str(),
                        lists ? "its address list and the IP ranges' rules are" : "the IP ranges' rules are");
    }
}

// routectl query's exit status: the worst answer among the recipients. Distinct from the
// sysexits codes (64 usage, 78 config) so a script tells "refused" from "could not ask".
enum QueryStatus : int { query_no_objection = 0, query_refused = 1, query_tempfailed = 2, query_warned = 3 };

QueryStatus query_status(const Decision& d) {
    if (d.warns()) return query_warned;
    if (!d.refuses()) return query_no_objection;
    return d.reply().code[0] == '4' ? query_tempfailed : query_refused;
}

// A refusal outranks a tempfail, which outranks a warning: the first is what a script must act on.
int query_severity(QueryStatus s) {
    constexpr int rank[] = {0, 3, 2, 1};
    return rank[s];
}

}  // namespace

struct CheckOptions {
    std::string config_path;
    bool verbose = false;
};

struct QueryOptions {
    std::string config_path;
    std::string client, from = "<>", auth_user;
    bool tls = false;
    std::vector<std::string> arguments;  // the recipients
};

int command_check(const CheckOptions& options) {
    const std::string& path = options.config_path;
    const bool verbose = options.verbose;
    const std::optional<Config> loaded = load_config_or_report(path);
    if (!loaded) return EX_CONFIG;
    const Config* config = &*loaded;
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    std::size_t addresses = config->listed.record_count(), listed = 0, with_auth = 0;
    for (const RouteConfig& r : config->routes) {
        listed += r.deliver_to == DeliverTo::listed;
        with_auth += r.auth != nullptr;
    }
    std::printf("%s: OK\n", path.c_str());
    // The policy's identity: the same on every host that runs the same files (config_digest.hpp).
    std::printf("digest: %s (sha256 of %zu file%s)\n", config->digest.c_str(), config->files.size(),
                config->files.size() == 1 ? "" : "s");
    std::printf("socket: %s\n", config->milter.socket.text().c_str());
    if (config->metrics)
        std::printf("metrics: %s (at most %d scrapers at once, %d s a request)\n",
                    metrics_url(*config->metrics).c_str(), config->metrics->max_connections, config->metrics->timeout);
    else
        std::printf("metrics: off\n");
    std::printf("scope: %s\n", std::string(name_of(config->scope)).c_str());
    print_modes(*config);
    std::printf("local domains: %zu\n", config->local_domains.size());
    std::printf("routes: %zu (%zu deliver to listed addresses only, %zu listed addresses, %zu with SMTP AUTH)\n",
                config->routes.size(), listed, addresses, with_auth);
    // Every address file with what it holds: a nightly export that came out short shows here.
    std::size_t files = 0, from_files = 0;
    for (const RouteConfig& r : config->routes)
        if (r.addresses_file) ++files, from_files += r.addresses_file->count;
    if (files != 0) std::printf("address files: %zu (%zu addresses)\n", files, from_files);
    for (const RouteConfig& r : config->routes)
        if (r.addresses_file)
            std::printf("  %s: %u addresses (route %s, %s)\n", config->files.c_str(r.addresses_file->file), r.addresses_file->count,
                        r.pattern.text().c_str(), line_of(r.addresses_file->line).c_str());
    const std::size_t shown = verbose ? config->routes.size() : std::min<std::size_t>(config->routes.size(), 50);
    for (std::size_t i = 0; i < shown; ++i) print_route(*config, config->routes[i]);
    if (shown < config->routes.size())
        std::printf("  ... and %zu more (routectl check -v lists all)\n", config->routes.size() - shown);
    std::printf("ip ranges: %zu%s\n", config->ip_ranges.size(), config->ip_ranges_are_defaults ? " (hMailServer defaults)" : "");
    for (const IpRangeConfig& r : config->ip_ranges) {
        std::string intervals;
        for (const IpInterval& i : r.intervals) intervals += (intervals.empty() ? "" : ", ") + to_string(i);
        std::string extra;
        if (r.require_tls_for_auth) extra += "; AUTH only over TLS";
        if (r.expires) extra += std::string(r.expired_at(now) ? "; EXPIRED " : "; expires ") + format_utc_timestamp(*r.expires);
        std::printf("  \"%s\" priority %d: %s; allow %s; require auth %s%s [%s]\n", r.name.c_str(), r.priority,
                    intervals.c_str(), classes(r.allow).c_str(), classes(r.require_auth).c_str(), extra.c_str(),
                    line_of(r.line).c_str());
    }
    // An expired range is valid config, but it no longer matches: say so where it is written.
    for (const IpRangeConfig& r : config->ip_ranges)
        if (r.expired_at(now))
            std::fprintf(stderr, "%s:%u: warning: ip range \"%s\" expired at %s and matches no client\n",
                         r.file < config->files.size() ? config->files.c_str(r.file) : config->file.c_str(), r.line,
                         r.name.c_str(), format_utc_timestamp(*r.expires).c_str());
    // A route's password may go in clear: say so where the route is written.
    for (const RouteConfig& r : config->routes) {
        if (!r.auth || !r.security_given || (r.security != Security::none && r.security != Security::starttls)) continue;
        std::fprintf(stderr,
                     "%s:%u: warning: route %s: its SMTP AUTH could go in clear (security \"%s\"%s): set security = "
                     "\"starttls-required\" or \"tls\", or leave security unset (TLS is then required for AUTH)\n",
                     r.file < config->files.size() ? config->files.c_str(r.file) : config->file.c_str(), r.line,
                     r.pattern.text().c_str(), std::string(name_of(r.security)).c_str(),
                     r.security == Security::starttls ? ": without STARTTLS from the host the session stays unencrypted" : "");
    }
    return EX_OK;
}

int command_query(const QueryOptions& options) {
    const std::string& path = options.config_path;
    const std::string& client = options.client;
    const std::string& from = options.from;
    const std::string& auth_user = options.auth_user;
    const std::vector<std::string>& recipients = options.arguments;
    const auto address = parse_ip_address(client);
    if (!address) {
        std::fprintf(stderr, "routectl: --client: not an IP address (%s)\n", client.c_str());
        return EX_USAGE;
    }
    const auto policy = load_or_report(path);
    if (!policy) return EX_CONFIG;
    NormalizedAddress sender;
    // An unreadable sender is not a usage error: the milter refuses its recipients, and this shows it.
    const AddressStatus sender_status = parse_address(from, sender);
    const bool sender_ok = sender_status == AddressStatus::ok;
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    const MessageFacts facts = policy->message_facts(address, !auth_user.empty(), options.tls, sender_ok ? &sender : nullptr, now);
    const std::string sender_text = sender_ok ? "<" + std::string(sender.text()) + ">: " + std::string(name_of(facts.sender_class))
                                              : from + ": unreadable, " + std::string(describe(sender_status));
    std::printf("client %s: range %s; sender %s; %s\n", client.c_str(),
                facts.range != nullptr ? ("\"" + facts.range->name + "\" (" + line_of(facts.range->line) + ")").c_str()
                                       : "none",
                sender_text.c_str(), auth_user.empty() ? "not authenticated" : ("authenticated as " + auth_user).c_str());
    if (options.tls) std::printf("session encrypted (TLS)\n");
    QueryStatus status = query_no_objection;
    for (const std::string& rcpt : recipients) {
        const Decision d = policy->decide(Query{address, !auth_user.empty(), from, rcpt, options.tls, now});
        if (query_severity(query_status(d)) > query_severity(status)) status = query_status(d);
        const SmtpReply reply = d.reply();
        char text[max_quoted_address + 128];
        format_reply_text(d.rule, rcpt, text, sizeof text);
        if (d.warns()) std::printf("%s: WARN (would reject %s %s %s)", rcpt.c_str(), reply.code, reply.xcode, text);
        else if (d.refuses()) std::printf("%s: REJECT %s %s %s", rcpt.c_str(), reply.code, reply.xcode, text);
        else std::printf("%s: %s", rcpt.c_str(), d.rule == Rule::out_of_scope ? "PASS" : "NO OBJECTION");
        std::printf("\n    rule %s; route %s", std::string(name_of(d.rule)).c_str(),
                    d.route ? (std::string(d.route.pattern) + " (" + line_of(d.route.line) + ")").c_str() : "none");
        if (d.delivery_class) std::printf("; class %s", std::string(name_of(*d.delivery_class)).c_str());
        if (d.rejects()) std::printf("; mode %s", std::string(name_of(d.mode)).c_str());
        if (d.rejects() && d.mode == Mode::warn && !d.warns())
            std::printf("; refused in warn mode too: the milter cannot read the address");
        if (d.refuses() && d.mode == Mode::enforce && d.route && policy->route(d.route.index).mode == Mode::warn)
            std::printf("; enforced although the route is in warn mode: a route's warn mode softens its address list "
                        "only, the IP ranges' rules follow the top-level mode");
        if (d.rule == Rule::out_of_scope) std::printf("; scope = \"routes\" and the domain has no route: not judged");
        if (d.rule == Rule::postmaster) std::printf("; <postmaster> is always accepted (RFC 5321 4.5.1)");
        std::printf("\n");
    }
    return status;
}


const RoutectlCommand check_command{
    "check", "validate the configuration (as route-milter -t) and summarise it", {{"verbose", 'v', nullptr, false, "list every route, not only the first 50"}}, nullptr,
    [](const CommandArguments& a) { return command_check(CheckOptions{a.config_path, a.has("verbose")}); }};

const RoutectlCommand query_command{
    "query", "print the decision the milter makes for each recipient, and why",
    {{"client", 0, "IP", true, "the SMTP client's address (IPv4 or IPv6)"},
     {"from", 0, "ADDR", false, "the envelope sender, MAIL FROM (default <>)"},
     {"auth", 0, "USER", false, "the session is authenticated as USER"},
     {"tls", 0, nullptr, false, "the session is encrypted (STARTTLS or SMTPS)"}},
    "RCPT...",
    [](const CommandArguments& a) {
        return command_query(QueryOptions{a.config_path, a.value_or("client", ""), a.value_or("from", "<>"),
                                          a.value_or("auth", ""), a.has("tls"), a.operands});
    },
    true,
    "RCPT...: the recipients to judge, one decision each.\n"
    "exit status (the worst recipient's): 0 no objection (or not judged), 1 refused (5xx),\n"
    "2 tempfailed (4xx), 3 warned (would be refused, but its rule is in warn mode);\n"
    "64 bad command line, 78 bad configuration"};

}  // namespace route_milter
