// routectl - the administrator's tool: check the config, explain decisions.
//
//   routectl check [-c FILE] [-v]
//   routectl query [-c FILE] --client IP [--from ADDR] [--auth USER] RCPT...
//
// Uses the very loader and policy the daemon uses, so what it says is what the milter does.
#include "route_milter/policy.hpp"
#include "route_milter/version.hpp"

#include <getopt.h>
#include <sysexits.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

using namespace route_milter;

namespace {

void usage(FILE* out) {
    std::fprintf(out,
                 "usage: routectl check [-c FILE] [-v]\n"
                 "       routectl query [-c FILE] --client IP [--from ADDR] [--auth USER] RCPT...\n"
                 "       routectl --version\n"
                 "  check  validate the configuration (as route-milter -t) and summarise it\n"
                 "  query  print the decision the milter makes for each recipient, and why\n"
                 "  -c FILE  configuration (default %s)\n",
                 default_config_path);
}

std::string classes(DeliveryClassSet set) {
    std::string out;
    for (std::size_t i = 0; i < delivery_class_names.size(); ++i)
        if (set.contains(static_cast<DeliveryClass>(i))) out += (out.empty() ? "" : ", ") + std::string(delivery_class_names[i]);
    return out.empty() ? "(none)" : out;
}

std::string line_of(unsigned line) { return line == 0 ? "built-in" : "line " + std::to_string(line); }

std::string route_label(const RouteConfig& r) { return r.domain + " (" + line_of(r.line) + ")"; }

std::shared_ptr<const Policy> load_or_report(const std::string& path) {
    PolicyResult loaded = load_policy_file(path);
    for (const Diagnostic& d : loaded.errors) std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
    if (!loaded.policy) std::fprintf(stderr, "%s: %zu error(s)\n", path.c_str(), loaded.errors.size());
    return std::move(loaded.policy);
}

void print_route(const Policy& policy, const RouteConfig& r) {
    std::string target = r.host.empty() ? "MX lookup" : r.host + ":" + std::to_string(r.port);
    std::printf("  %-32s %s  deliver %s", r.domain.c_str(), target.c_str(), std::string(name_of(r.deliver_to)).c_str());
    if (r.deliver_to == DeliverTo::listed) std::printf(" (%zu addresses)", policy.listed_address_count(r));
    std::printf("  sender %s  recipient %s  security %s  retries %d x %d min",
                std::string(name_of(r.treat_sender_as)).c_str(), std::string(name_of(r.treat_recipient_as)).c_str(),
                std::string(name_of(r.security)).c_str(), r.retries, r.retry_minutes);
    if (r.auth) std::printf("  auth user %s (password hidden)", r.auth->user.c_str());
    std::printf("  [%s]\n", line_of(r.line).c_str());
}

int check(const std::string& path, bool verbose) {
    const auto policy = load_or_report(path);
    if (!policy) return EX_CONFIG;
    const Config* config = &policy->config();
    std::size_t addresses = 0, listed = 0, with_auth = 0;
    for (const RouteConfig& r : config->routes) {
        addresses += policy->listed_address_count(r);
        listed += r.deliver_to == DeliverTo::listed;
        with_auth += r.auth.has_value();
    }
    std::printf("%s: OK\n", path.c_str());
    std::printf("socket: %s\n", config->milter.socket.c_str());
    std::printf("scope: %s\n", std::string(name_of(config->scope)).c_str());
    std::printf("local domains: %zu\n", config->local_domains.size());
    std::printf("routes: %zu (%zu deliver to listed addresses only, %zu listed addresses, %zu with SMTP AUTH)\n",
                config->routes.size(), listed, addresses, with_auth);
    const std::size_t shown = verbose ? config->routes.size() : std::min<std::size_t>(config->routes.size(), 50);
    for (std::size_t i = 0; i < shown; ++i) print_route(*policy, config->routes[i]);
    if (shown < config->routes.size())
        std::printf("  ... and %zu more (routectl check -v lists all)\n", config->routes.size() - shown);
    std::printf("ip ranges: %zu%s\n", config->ip_ranges.size(), config->ip_ranges_are_defaults ? " (hMailServer defaults)" : "");
    for (const IpRangeConfig& r : config->ip_ranges) {
        std::string intervals;
        for (const IpInterval& i : r.intervals) intervals += (intervals.empty() ? "" : ", ") + to_string(i);
        std::printf("  \"%s\" priority %d: %s; allow %s; require auth %s [%s]\n", r.name.c_str(), r.priority,
                    intervals.c_str(), classes(r.allow).c_str(), classes(r.require_auth).c_str(), line_of(r.line).c_str());
    }
    return EX_OK;
}

int query(const std::string& path, const std::string& client, const std::string& from, const std::string& auth_user,
          const std::vector<std::string>& recipients) {
    const auto address = parse_ip_address(client);
    if (!address) {
        std::fprintf(stderr, "routectl: --client: not an IP address (%s)\n", client.c_str());
        return EX_USAGE;
    }
    const auto policy = load_or_report(path);
    if (!policy) return EX_CONFIG;
    NormalizedAddress sender;
    if (parse_address(from, sender) != AddressStatus::ok) {
        std::fprintf(stderr, "routectl: --from: %s (%s)\n", std::string(describe(parse_address(from, sender))).c_str(),
                     from.c_str());
        return EX_USAGE;
    }
    const MessageFacts facts = policy->message_facts(address, !auth_user.empty(), &sender);
    std::printf("client %s: range %s; sender <%s>: %s; %s\n", client.c_str(),
                facts.range != nullptr ? ("\"" + facts.range->name + "\" (" + line_of(facts.range->line) + ")").c_str()
                                       : "none",
                std::string(sender.text()).c_str(), std::string(name_of(facts.sender_class)).c_str(),
                auth_user.empty() ? "not authenticated" : ("authenticated as " + auth_user).c_str());
    for (const std::string& rcpt : recipients) {
        const Decision d = policy->decide(Query{address, !auth_user.empty(), from, rcpt});
        const SmtpReply reply = reply_for(d.rule);
        char text[max_address_length + 128];
        format_reply_text(d.rule, rcpt, text, sizeof text);
        std::printf("%s: %s", rcpt.c_str(), d.rejects() ? "REJECT" : d.rule == Rule::accepted ? "ACCEPT" : "PASS");
        if (d.rejects()) std::printf(" %.*s %.*s %s", static_cast<int>(reply.code.size()), reply.code.data(),
                                     static_cast<int>(reply.xcode.size()), reply.xcode.data(), text);
        std::printf("\n    rule %s; route %s", std::string(name_of(d.rule)).c_str(),
                    d.route != nullptr ? route_label(*d.route).c_str() : "none");
        if (d.rule != Rule::out_of_scope && d.rule != Rule::not_listed && d.rule != Rule::bad_address)
            std::printf("; class %s", std::string(name_of(d.delivery_class)).c_str());
        if (d.rule == Rule::out_of_scope) std::printf("; scope = \"routes\" and the domain has no route: not judged");
        std::printf("\n");
    }
    return EX_OK;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) { usage(stderr); return EX_USAGE; }
    const std::string command = argv[1];
    if (command == "--version" || command == "-V") { std::printf("routectl %s\n", version); return EX_OK; }
    if (command == "--help" || command == "-h") { usage(stdout); return EX_OK; }
    std::string path = default_config_path, client, from = "<>", auth_user;
    bool verbose = false;
    static const option options[] = {{"config", required_argument, nullptr, 'c'},
                                     {"client", required_argument, nullptr, 'C'},
                                     {"from", required_argument, nullptr, 'f'},
                                     {"auth", required_argument, nullptr, 'a'},
                                     {"verbose", no_argument, nullptr, 'v'},
                                     {nullptr, 0, nullptr, 0}};
    optind = 2;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:v", options, nullptr)) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 'C': client = optarg; break;
        case 'f': from = optarg; break;
        case 'a': auth_user = optarg; break;
        case 'v': verbose = true; break;
        default: usage(stderr); return EX_USAGE;
        }
    }
    const std::vector<std::string> rest(argv + optind, argv + argc);
    if (command == "check" && rest.empty()) return check(path, verbose);
    if (command == "query" && !client.empty() && !rest.empty()) return query(path, client, from, auth_user, rest);
    usage(stderr);
    return EX_USAGE;
}
