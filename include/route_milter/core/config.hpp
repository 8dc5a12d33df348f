// config.hpp - the route-milter configuration as plain, validated data.
//
// Produced only by load_config (config_loader.hpp), which checks everything first; every
// element keeps the line it came from so later stages (policy compilation, logs) can name it.
// Domains and addresses are already in canonical form (domain.hpp, address.hpp).
#pragma once

#include "route_milter/core/delivery_class.hpp"
#include "route_milter/core/ip_range.hpp"
#include "route_milter/core/listed_addresses.hpp"
#include "route_milter/core/milter_socket.hpp"
#include "route_milter/core/mode.hpp"
#include "route_milter/core/name_code.hpp"
#include "route_milter/core/route_pattern.hpp"
#include "route_milter/core/source_file.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace route_milter {

inline constexpr const char* default_config_path = "/etc/route-milter/route-milter.conf";
// Inside Postfix's queue directory, so that a chrooted smtpd (Debian's default) reaches it as
// unix:/route-milter/route-milter.sock.
inline constexpr const char* default_socket = "unix:/var/spool/postfix/route-milter/route-milter.sock";
inline constexpr const char* default_socket_path = "/var/spool/postfix/route-milter/route-milter.sock";
// Where `routectl compile` writes the policy image unless told otherwise (the `image` setting):
// the unit's StateDirectory.
inline constexpr const char* default_image_path = "/var/lib/route-milter/route-milter.image";

// Which recipients the milter judges.
enum class Scope { routes, all };

enum class Security : std::uint8_t { none, starttls, starttls_required, tls };
enum class DeliverTo : std::uint8_t { all, listed };

// Their spellings in the config file (and in routectl's output).
inline constexpr NameCodeTable<Scope, 2> scope_names{{{{"routes", Scope::routes}, {"all", Scope::all}}}};
inline constexpr NameCodeTable<Security, 4> security_names{{{{"none", Security::none},
                                                             {"starttls", Security::starttls},
                                                             {"starttls-required", Security::starttls_required},
                                                             {"tls", Security::tls}}}};
inline constexpr NameCodeTable<DeliverTo, 2> deliver_to_names{{{{"all", DeliverTo::all}, {"listed", DeliverTo::listed}}}};
static_assert(scope_names.in_order() && security_names.in_order() && deliver_to_names.in_order());

constexpr std::string_view name_of(Scope s) { return scope_names.name(s); }
constexpr std::string_view name_of(Security s) { return security_names.name(s); }
constexpr std::string_view name_of(DeliverTo d) { return deliver_to_names.name(d); }

struct MilterSettings {
    MilterSocket socket = MilterSocket::unix_socket(default_socket_path);
    std::string user;   // empty: keep the identity the daemon was started with
    unsigned user_line = 0;       // where `user` is set (0: not set)
    std::uint32_t user_file = 0;  // index into Config::files
    int timeout = 300;  // seconds libmilter waits on the MTA
    bool log_accepted = false;  // log every recipient decision, not only refusals and warnings
};

// Prometheus metrics over HTTP (off when the config has no `metrics` group).
struct MetricsSettings {
    MilterSocket listen;     // inet or inet6 with an IP address; "inet:PORT" alone means 127.0.0.1
    int max_connections = 8;  // scrapers served at once; one more closes the oldest
    int timeout = 5;          // seconds a connection has for its request and answer, from its accept
    unsigned line = 0;
    std::uint32_t file = 0;
};

// "http://127.0.0.1:9101/metrics", "http://[::1]:9101/metrics": where a scraper finds the page.
inline std::string metrics_url(const MetricsSettings& m) {
    const std::string& host = m.listen.host();
    return "http://" + (m.listen.family() == MilterSocket::Family::inet6 ? "[" + host + "]" : host) + ":" +
           std::to_string(m.listen.port()) + "/metrics";
}

struct IpRangeConfig {
    std::string name;
    std::vector<IpInterval> intervals;
    int priority = 0;
    DeliveryClassSet allow;
    DeliveryClassSet require_auth;
    // hMailServer's "Require SSL/TLS for authentication": an authenticated session that did
    // not use TLS is refused.
    bool require_tls_for_auth = false;
    // hMailServer's "Expires": from this instant on (seconds since the epoch, UTC) the range
    // no longer matches any client.
    std::optional<std::int64_t> expires;
    unsigned line = 0;  // 0 for the built-in defaults
    std::uint32_t file = 0;  // index into Config::files: the file `line` is in

    bool expired_at(std::int64_t now) const { return expires.has_value() && now >= *expires; }
};

struct RouteAuth {
    std::string user;
    std::string password;  // never logged, never printed
};

// A route's `addresses_file`: one address per line, read straight into Config::listed.
struct AddressFile {
    // Its path (as opened: a relative name is taken from the config file's directory) is
    // Config::files[file]: a hundred thousand routes do not hold every path twice.
    std::uint32_t file = 0;  // index into Config::files once read
    std::uint32_t count = 0;  // addresses it holds
    unsigned line = 0;       // the config line naming it
    std::uint32_t config_file = 0;  // index into Config::files: the file `line` is in
};

struct RouteConfig {
    RoutePattern pattern;  // the route's domain; empty only until the loader has read it
    std::string description;
    // Target hosts, tried in the order given (hMailServer's "a|b"): canonical host names or IP
    // literals "[192.0.2.7]". Empty: normal MX delivery. port, security and auth apply to each.
    std::vector<std::string> hosts;
    // Shared, not inline: most routes have none, and a hundred thousand routes would each carry
    // the room for two strings.
    std::shared_ptr<const RouteAuth> auth;
    // Its listed addresses live in Config::listed (of_route); this says where some came from.
    std::optional<AddressFile> addresses_file;
    int port = 25;
    int retries = 4;         // hMailServer's default route: 4 retries,
    int retry_minutes = 60;  // 60 minutes apart
    unsigned line = 0;
    std::uint32_t file = 0;  // index into Config::files
    // The small members last, together (a hundred thousand routes: every byte is 100 kB).
    Security security = Security::none;
    // Unset: the MTA's own TLS level applies (no per-route TLS policy is written).
    bool security_given = false;
    bool tls_verify = false;  // the hosts' certificates must verify (CA and name)
    // hMailServer's "ETRN" routes: mail is held in the queue until the destination asks for it
    // with ETRN <domain>, then delivered to the route's hosts.
    bool etrn = false;
    AddressClass treat_sender_as = AddressClass::external;
    AddressClass treat_recipient_as = AddressClass::external;
    DeliverTo deliver_to = DeliverTo::all;
    std::optional<Mode> mode;  // unset: the top-level mode
};

// The names of the files a config was read from, all in one buffer, each ended by a NUL: a
// hundred thousand address files do not cost a heap block (and a std::string) each.
class FileNames {
public:
    std::size_t size() const { return starts_.size(); }
    bool empty() const { return starts_.empty(); }
    void clear() {
        text_.clear();
        starts_.clear();
    }
    void reserve(std::size_t files, std::size_t bytes) {
        starts_.reserve(files);
        text_.reserve(bytes + files);
    }
    void push_back(std::string_view name) {
        if (text_.size() + name.size() >= UINT32_MAX) throw std::length_error("FileNames: over 4 GiB of names");
        starts_.push_back(static_cast<std::uint32_t>(text_.size()));
        text_.append(name);
        text_.push_back('\0');
    }
    std::string_view operator[](std::size_t i) const {
        const std::size_t end = i + 1 < starts_.size() ? starts_[i + 1] - 1 : text_.size() - 1;
        return std::string_view(text_).substr(starts_[i], end - starts_[i]);
    }
    std::string_view at(std::size_t i) const { return (*this)[check(i)]; }
    const char* c_str(std::size_t i) const { return text_.c_str() + starts_.at(i); }

private:
    std::size_t check(std::size_t i) const {
        if (i >= starts_.size()) throw std::out_of_range("FileNames::at");
        return i;
    }
    std::string text_;
    std::vector<std::uint32_t> starts_;
};

struct Config {
    std::string file;  // where it was read from
    // Every file read, in the order met: files[0] is `file`, then each @include (as opened) and
    // each addresses_file.
    // The `file` index of a range, route or address points here; empty for a hand-made Config.
    FileNames files;
    // How many of `files` are config files (the main file and its @includes, first in the table).
    std::uint32_t config_file_count = 0;
    // Each file of `files` as it was read (its identity when opened, before a byte was read),
    // for the policy image's header: an identity left empty (never settled) for text from memory.
    std::vector<SourceFile> sources;
    // sha256 (hex) of the bytes of every file read (`files`, in order): the policy's identity,
    // the same on every host that runs the same files, whatever their paths.
    std::string digest;
    std::string image = default_image_path;  // where the compiled policy goes (`image`)
    unsigned image_line = 0;       // where `image` is set (0: not set)
    std::uint32_t image_file = 0;  // index into Config::files
    MilterSettings milter;
    std::optional<MetricsSettings> metrics;
    Scope scope = Scope::routes;
    Mode mode = Mode::enforce;
    std::vector<std::string> local_domains;
    std::vector<IpRangeConfig> ip_ranges;
    bool ip_ranges_are_defaults = false;
    std::vector<RouteConfig> routes;
    // Every route's listed addresses (inline and from files), route by route.
    ListedAddresses listed;
};

// The mode of a route's own rule, its address list (route == nullptr: no route): its own
// mode, else the top-level one.
inline Mode effective_mode(const Config& config, const RouteConfig* route) {
    return route != nullptr && route->mode ? *route->mode : config.mode;
}

// The mode of the IP ranges' rules (not-allowed, auth-required, tls-required) for a route's
// recipients: warn only where the top-level mode is warn and the route does not enforce. A
// route's warn mode rehearses its own address list, never the ranges' relay rules: a "*" route
// in warn mode would otherwise let every domain be relayed without AUTH.
inline Mode range_rules_mode(const Config& config, const RouteConfig* route) {
    return config.mode == Mode::warn && effective_mode(config, route) == Mode::warn ? Mode::warn : Mode::enforce;
}

// How many routes are in `mode` (their own or inherited).
inline std::size_t routes_in_mode(const Config& config, Mode mode) {
    std::size_t n = 0;
    for (const RouteConfig& r : config.routes) n += effective_mode(config, &r) == mode;
    return n;
}

// hMailServer's default ranges: "My computer" and "Internet".
std::vector<IpRangeConfig> default_ip_ranges();

}  // namespace route_milter
