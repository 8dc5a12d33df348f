// routectl show [-n]: the effective configuration, every default filled in (or, with -n, only
// what differs from the defaults, as `postconf -n` does), passwords redacted. The output is
// libconfig syntax that `routectl check` accepts again: what admins paste into a support request.
#include "commands.hpp"
#include "policy_loading.hpp"

#include "route_milter/core/rule_names.hpp"
#include "route_milter/core/utc_time.hpp"

#include <sysexits.h>

#include <cstdio>
#include <string>
#include <vector>

namespace route_milter {
namespace {

std::string quoted(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

std::string string_list(const std::vector<std::string>& items) {
    if (items.empty()) return "[ ]";
    std::string out = "[ ";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i != 0 ? ", " : "") + quoted(items[i]);
    return out + " ]";
}

std::string classes(DeliveryClassSet set) {
    std::vector<std::string> names;
    for (const auto& [name, c] : delivery_class_names)
        if (set.contains(c)) names.emplace_back(name);
    return string_list(names);
}

// Writes `key = value;` lines; with only_changed, a line only when the value is not the default.
class Printer {
public:
    explicit Printer(bool only_changed) : only_changed_(only_changed) {}

    void setting(int indent, const char* key, const std::string& value, const std::string& default_value) {
        if (only_changed_ && value == default_value) return;
        line(indent, std::string(key) + " = " + value + ";");
    }
    void line(int indent, const std::string& text) { out += std::string(static_cast<std::size_t>(indent), ' ') + text + "\n"; }
    bool only_changed() const { return only_changed_; }
    std::string out;

private:
    bool only_changed_;
};

void print_range(Printer& p, const IpRangeConfig& r, bool last) {
    p.line(2, "{");
    p.setting(4, "name", quoted(r.name), "");
    std::vector<std::string> cidrs;
    for (const IpInterval& i : r.intervals) cidrs.push_back(to_cidr(i).value_or(""));
    if (r.intervals.size() == 1 && cidrs[0].empty()) {
        p.setting(4, "lower", quoted(to_string(r.intervals[0].lower)), "");
        p.setting(4, "upper", quoted(to_string(r.intervals[0].upper)), "");
    } else {
        for (std::size_t i = 0; i < r.intervals.size(); ++i)
            if (cidrs[i].empty()) cidrs[i] = to_string(r.intervals[i]);  // cannot happen: cidr lists are blocks
        p.setting(4, "cidr", string_list(cidrs), "");
    }
    p.setting(4, "priority", std::to_string(r.priority), "");
    p.line(4, "allow = " + classes(r.allow) + ";");  // an empty set is a choice too: nothing allowed
    p.setting(4, "require_auth", classes(r.require_auth), "[ ]");
    p.setting(4, "require_tls_for_auth", r.require_tls_for_auth ? "true" : "false", "false");
    if (r.expires) p.line(4, "expires = " + quoted(format_utc_timestamp(*r.expires)) + ";");
    p.line(2, last ? "}" : "},");
}

void print_route(Printer& p, const Config& c, const RouteConfig& r, bool last) {
    const RouteConfig defaults;
    p.line(2, "{");
    p.line(4, "domain = " + quoted(r.pattern.text()) + ";");
    p.setting(4, "description", quoted(r.description), quoted(defaults.description));
    if (!r.hosts.empty()) {
        p.setting(4, "host", r.hosts.size() == 1 ? quoted(r.hosts[0]) : string_list(r.hosts), "");
        p.setting(4, "port", std::to_string(r.port), r.security == Security::tls ? "465" : "25");
    } else if (!p.only_changed()) {
        p.line(4, "# host unset: MX delivery (port 25)");
    }
    p.setting(4, "security", quoted(name_of(r.security)), quoted(name_of(defaults.security)));
    p.setting(4, "tls_verify", r.tls_verify ? "true" : "false", "false");
    p.setting(4, "etrn", r.etrn ? "true" : "false", "false");
    p.setting(4, "treat_sender_as", quoted(name_of(r.treat_sender_as)), quoted(name_of(defaults.treat_sender_as)));
    p.setting(4, "treat_recipient_as", quoted(name_of(r.treat_recipient_as)),
              quoted(name_of(defaults.treat_recipient_as)));
    p.setting(4, "deliver_to", quoted(name_of(r.deliver_to)), quoted(name_of(defaults.deliver_to)));
    if (r.deliver_to == DeliverTo::listed) {
        // Inline addresses as a list; an address file by its name (it is read again on reload).
        std::vector<std::string> addresses;
        const auto route = static_cast<std::uint32_t>(&r - c.routes.data());
        for (const ListedAddresses::Record& a : c.listed.of_route(route))
            if (!r.addresses_file || a.file != r.addresses_file->file) addresses.emplace_back(c.listed.text(a));
        if (!addresses.empty() || !r.addresses_file) p.line(4, "addresses = " + string_list(addresses) + ";");
        if (r.addresses_file) p.line(4, "addresses_file = " + quoted(c.files.at(r.addresses_file->file)) + ";");
    }
    p.setting(4, "retries", std::to_string(r.retries), std::to_string(defaults.retries));
    p.setting(4, "retry_minutes", std::to_string(r.retry_minutes), std::to_string(defaults.retry_minutes));
    p.setting(4, "mode", quoted(name_of(effective_mode(c, &r))), quoted(name_of(c.mode)));
    if (r.auth) p.line(4, "auth = { user = " + quoted(r.auth->user) + "; password = \"(hidden)\"; };");
    p.line(2, last ? "}" : "},");
}

int command_show(const std::string& path, bool only_changed) {
    const std::optional<Config> loaded = load_config_or_report(path);
    if (!loaded) return EX_CONFIG;
    const Config& c = *loaded;
    const Config defaults;
    Printer p(only_changed);
    p.line(0, "# routectl show" + std::string(only_changed ? " -n" : "") + ": " + c.file + ", digest " + c.digest);
    p.line(0, only_changed ? "# only the settings that differ from the defaults; passwords hidden"
                           : "# every setting, defaults filled in; passwords hidden");

    Printer milter(only_changed);
    milter.setting(2, "socket", quoted(c.milter.socket.text()), quoted(defaults.milter.socket.text()));
    if (!c.milter.user.empty()) milter.setting(2, "user", quoted(c.milter.user), "");
    else if (!only_changed) milter.line(2, "# user unset: the daemon keeps the identity it was started with");
    milter.setting(2, "timeout", std::to_string(c.milter.timeout), std::to_string(defaults.milter.timeout));
    milter.setting(2, "log_accepted", c.milter.log_accepted ? "true" : "false",
                   defaults.milter.log_accepted ? "true" : "false");
    if (!milter.out.empty()) p.out += "milter = {\n" + milter.out + "};\n";

    if (c.metrics) {
        const MetricsSettings metric_defaults;
        p.line(0, "metrics = {");
        p.line(2, "listen = " + quoted(c.metrics->listen.text()) + ";");
        p.setting(2, "max_connections", std::to_string(c.metrics->max_connections),
                  std::to_string(metric_defaults.max_connections));
        p.setting(2, "timeout", std::to_string(c.metrics->timeout), std::to_string(metric_defaults.timeout));
        p.line(0, "};");
    } else if (!only_changed) {
        p.line(0, "# metrics: off (no metrics group)");
    }
    p.setting(0, "scope", quoted(name_of(c.scope)), quoted(name_of(defaults.scope)));
    p.setting(0, "mode", quoted(name_of(c.mode)), quoted(name_of(defaults.mode)));
    p.setting(0, "local_domains", string_list(c.local_domains), string_list(defaults.local_domains));
    if (!only_changed || !c.ip_ranges_are_defaults) {
        if (c.ip_ranges_are_defaults) p.line(0, "# hMailServer's default ranges (no ip_ranges in the file)");
        p.line(0, "ip_ranges = (");
        for (std::size_t i = 0; i < c.ip_ranges.size(); ++i) print_range(p, c.ip_ranges[i], i + 1 == c.ip_ranges.size());
        p.line(0, ");");
    }
    if (!only_changed || !c.routes.empty()) {
        p.line(0, "routes = (");
        for (std::size_t i = 0; i < c.routes.size(); ++i) print_route(p, c, c.routes[i], i + 1 == c.routes.size());
        p.line(0, ");");
    }
    std::fwrite(p.out.data(), 1, p.out.size(), stdout);
    return EX_OK;
}

}  // namespace

const RoutectlCommand show_command{
    "show", "print the effective configuration (-n: only what differs from the defaults), passwords hidden",
    {{"non-default", 'n', nullptr, false, "only the settings that differ from the defaults (as postconf -n)"}}, nullptr,
    [](const CommandArguments& a) { return command_show(a.config_path, a.has("non-default")); }};

}  // namespace route_milter
