// config_loader.cpp - libconfig tree -> validated Config, collecting every problem.
#include "route_milter/config/config_loader.hpp"

#include "route_milter/core/address.hpp"
#include "route_milter/config/config_digest.hpp"
#include "route_milter/config/address_file.hpp"
#include "route_milter/config/config_source.hpp"
#include "route_milter/config/open_relay.hpp"
#include "route_milter/config/route_list_scan.hpp"
#include "route_milter/core/domain.hpp"
#include "route_milter/core/printable.hpp"
#include "route_milter/core/setting_bounds.hpp"
#include "route_milter/core/utc_time.hpp"

#include <libconfig.h++>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <tuple>
#include <utility>
#include <variant>

namespace route_milter {
namespace {

using libconfig::Setting;

// Every setting of each group, declared once: its name, whether it must be given, and for an
// integer its bounds (Postfix's CONFIG_INT_TABLE rows). The readers ask these tables for all of
// it, so the list of known keys and what is read cannot drift apart. Defaults are the member
// initialisers of config.hpp, the one place they are written.
enum class Holds { string, integer, boolean, group, list, strings };  // strings: a string or a list of them
struct SettingRow {
    std::string_view name;
    Holds holds = Holds::string;
    long long min = 0;  // integers only
    long long max = 0;
    bool required = false;
    // Never shown (a password): it may hold any character. Every other string is shown by log
    // lines, errors or routectl, and may hold no control character (printable.hpp).
    bool secret = false;
};
using SettingTable = std::span<const SettingRow>;

using H = Holds;
constexpr SettingRow root_settings[] = {{"milter", H::group}, {"metrics", H::group}, {"scope"}, {"mode"}, {"local_domains", H::strings},
                                        {"ip_ranges", H::list}, {"routes", H::list}};
// An integer setting's row takes its bounds from setting_bounds.hpp.
constexpr SettingRow integer_row(std::string_view name, SettingBounds bounds, bool required = false) {
    return {name, H::integer, bounds.min, bounds.max, required};
}
constexpr SettingRow milter_settings[] = {{"socket"}, {"user"}, integer_row("timeout", milter_timeout_bounds),
                                          {"log_accepted", H::boolean}};
constexpr SettingRow metrics_settings[] = {{"listen", H::string, 0, 0, true},
                                           integer_row("max_connections", metrics_max_connections_bounds),
                                           integer_row("timeout", metrics_timeout_bounds)};
constexpr SettingRow range_settings[] = {{"name", H::string, 0, 0, true}, {"lower"}, {"upper"}, {"cidr", H::strings},
                                         integer_row("priority", range_priority_bounds, true), {"allow", H::strings},
                                         {"require_auth", H::strings}, {"require_tls_for_auth", H::boolean},
                                         {"expires"}};
constexpr SettingRow route_settings[] = {
    {"domain", H::string, 0, 0, true}, {"description"}, {"host", H::strings}, integer_row("port", route_port_bounds),
    {"security"}, {"tls_verify", H::boolean}, {"etrn", H::boolean},
    {"treat_sender_as"}, {"treat_recipient_as"}, {"deliver_to"}, {"addresses", H::strings}, {"addresses_file"},
    integer_row("retries", route_retries_bounds), integer_row("retry_minutes", route_retry_minutes_bounds),
    {"auth", H::group}, {"mode"}};
constexpr SettingRow auth_settings[] = {{"user", H::string, 0, 0, true}, {"password", H::string, 0, 0, true, true}};

// A reader naming a setting its table lacks, or reading it as another type than the table
// says, is a programming error, found by any test of that reader.
const SettingRow& row_of(SettingTable table, std::string_view key, Holds read_as) {
    for (const SettingRow& row : table) {
        if (row.name != key) continue;
        if (row.holds != read_as) throw std::logic_error("config_loader: setting read as another type: " + std::string(key));
        return row;
    }
    throw std::logic_error("config_loader: setting not in its table: " + std::string(key));
}

std::string_view type_name(const Setting& s) {
    switch (s.getType()) {
    case Setting::TypeInt:
    case Setting::TypeInt64: return "an integer";
    case Setting::TypeFloat: return "a float";
    case Setting::TypeString: return "a string";
    case Setting::TypeBoolean: return "a boolean";
    case Setting::TypeGroup: return "a group { }";
    case Setting::TypeArray: return "an array [ ]";
    case Setting::TypeList: return "a list ( )";
    default: return "nothing";
    }
}

// Walks the libconfig tree; every check reports into `errors` and carries on. libconfig saw
// one text (config_source.hpp); every line it reports is mapped back to its file and line.
class Validator {
public:
    explicit Validator(ConfigSource& source) : source_(source) {
        // addresses_file names are taken from the main file's directory (text: the working one).
        const SourceFile& main = source.files.front();
        const std::size_t slash = main.name.rfind('/');
        if (main.from_disk && slash != std::string::npos) file_dir_ = main.name.substr(0, slash + 1);
    }

    Diagnostics errors;
    std::vector<std::uint32_t> password_files;  // where each route password is written
    // addresses_file settings met in the tree, read once the tree is freed (it and a million
    // addresses would otherwise add up to the peak).
    struct PendingAddressFile {
        std::uint32_t route;
        std::string name;    // as written (resolved: moved into the file table by read_listed)
        // Its route's setting path, "routes[3]" (made when needed: a hundred thousand of these
        // are held while the config text is).
        std::string path() const { return "routes[" + std::to_string(route) + "]"; }
        SourceLocation at;   // of the addresses_file setting
        bool inline_listed;  // the route lists addresses inline too
        bool resolved = false;  // `name` is the path as opened (taken from the running config)
    };
    std::vector<PendingAddressFile> pending_address_files;

    SourceLocation locate(unsigned text_line) const { return source_.locate(text_line); }
    SourceLocation at(const Setting& s) const { return locate(s.getSourceLine() + line_base); }
    // The text line before the first line of the text libconfig is reading (a slice of the
    // route list starts on a later line than its own line 1).
    unsigned line_base = 0;
    const std::string& file_name(std::uint32_t file) const { return source_.files.at(file).name; }

    // "line 3", or "other.conf:3" when `first` is in another file than `here`.
    std::string line_ref(SourceLocation first, SourceLocation here) const {
        if (first.file == here.file) return "line " + std::to_string(first.line);
        return file_name(first.file) + ":" + std::to_string(first.line);
    }

    void error(const Setting& at, const std::string& path, const std::string& what) {
        error_at(this->at(at), path + ": " + what);
    }
    void error_at(SourceLocation where, const std::string& what) {
        errors.push_back({file_name(where.file), where.line, what});
    }

    // Reports keys of `group` not in its table; false when `group` is not a group at all.
    bool check_group(const Setting& group, const std::string& path, SettingTable known) {
        if (!group.isGroup()) {
            error(group, path, "expected a group { ... }, found " + std::string(type_name(group)));
            return false;
        }
        for (int i = 0; i < group.getLength(); ++i) {
            const Setting& child = group[i];
            const std::string_view name = child.getName();
            if (std::none_of(known.begin(), known.end(), [&](const SettingRow& row) { return row.name == name; }))
                error(child, join(path, name), "unknown setting (" + std::string(name) + ")");
        }
        return true;
    }

    const Setting* member(const Setting& group, const char* key) {
        return group.exists(key) ? &group[key] : nullptr;
    }

    std::optional<std::string> string_value(const Setting& s, const std::string& path) {
        if (s.getType() != Setting::TypeString) {
            error(s, path, "expected a string, found " + std::string(type_name(s)));
            return std::nullopt;
        }
        return std::string(s.c_str());
    }

    // False (reported) when `text` holds a control character: a name or description with a
    // newline would forge a log line, an escape would drive the admin's terminal.
    bool one_line(SourceLocation where, const std::string& path, std::string_view text) {
        if (!find_control(text)) return true;
        error_at(where, path + ": a control character (shown as \\xNN) in a value that log lines and routectl show (\"" +
                            printable(text, 200) + "\")");
        return false;
    }

    // required_here: needed in this case although the table does not always need it.
    std::optional<std::string> string_member(const Setting& group, const std::string& path, SettingTable table,
                                             const char* key, bool required_here = false) {
        const SettingRow& row = row_of(table, key, Holds::string);
        const Setting* s = member(group, key);
        if (s == nullptr) {
            if (row.required || required_here) error(group, path, "missing required setting (" + std::string(key) + ")");
            return std::nullopt;
        }
        auto text = string_value(*s, join(path, key));
        if (text && !row.secret && !one_line(at(*s), join(path, key), *text)) return std::nullopt;
        return text;
    }

    std::optional<long long> int_member(const Setting& group, const std::string& path, SettingTable table,
                                        const char* key) {
        const SettingRow& row = row_of(table, key, Holds::integer);
        const long long min = row.min, max = row.max;
        const Setting* s = member(group, key);
        if (s == nullptr) {
            if (row.required) error(group, path, "missing required setting (" + std::string(key) + ")");
            return std::nullopt;
        }
        const std::string where = join(path, key);
        long long value = 0;
        if (s->getType() == Setting::TypeInt) value = static_cast<int>(*s);
        else if (s->getType() == Setting::TypeInt64) value = static_cast<long long>(*s);
        else {
            error(*s, where, "expected an integer, found " + std::string(type_name(*s)));
            return std::nullopt;
        }
        if (value < min || value > max) {
            error(*s, where,
                  "out of range " + std::to_string(min) + ".." + std::to_string(max) + " (" + std::to_string(value) + ")");
            return std::nullopt;
        }
        return value;
    }

    std::optional<bool> bool_member(const Setting& group, const std::string& path, SettingTable table, const char* key) {
        row_of(table, key, Holds::boolean);
        const Setting* s = member(group, key);
        if (s == nullptr) return std::nullopt;
        if (s->getType() != Setting::TypeBoolean) {
            error(*s, join(path, key), "expected true or false, found " + std::string(type_name(*s)));
            return std::nullopt;
        }
        return static_cast<bool>(*s);
    }

    template <typename Enum, std::size_t N>
    std::optional<Enum> enum_member(const Setting& group, const std::string& path, SettingTable table, const char* key,
                                    const NameCodeTable<Enum, N>& names) {
        const auto text = string_member(group, path, table, key);
        if (!text) return std::nullopt;
        if (const auto code = names.code(*text)) return code;
        error(group[key], join(path, key), "must be one of " + names.choices() + " (\"" + *text + "\")");
        return std::nullopt;
    }

    // Calls fn(text, location) for each string of an array [ ] or list ( ); a single string
    // counts as a one-element list. Returns the number of elements.
    template <typename Fn>
    int for_each_string(const Setting& s, const std::string& path, Fn&& fn) {
        if (s.getType() == Setting::TypeString) {
            if (one_line(at(s), path, s.c_str())) fn(std::string_view(s.c_str()), at(s));
            return 1;
        }
        if (!s.isArray() && !s.isList()) {
            error(s, path, "expected a list of strings, found " + std::string(type_name(s)));
            return 0;
        }
        for (int i = 0; i < s.getLength(); ++i) {
            const Setting& e = s[i];
            if (e.getType() != Setting::TypeString) {
                error(e, path + "[" + std::to_string(i) + "]", "expected a string, found " + std::string(type_name(e)));
                continue;
            }
            // Array elements may carry no line of their own; use the array's then.
            const SourceLocation where = locate((e.getSourceLine() != 0 ? e.getSourceLine() : s.getSourceLine()) + line_base);
            if (one_line(where, path + "[" + std::to_string(i) + "]", e.c_str())) fn(std::string_view(e.c_str()), where);
        }
        return s.getLength();
    }

    static std::string join(const std::string& path, std::string_view key) {
        return path.empty() ? std::string(key) : path + "." + std::string(key);
    }

    std::string resolve(const std::string& name) const { return name.front() == '/' ? name : file_dir_ + name; }
    std::string path_of(const PendingAddressFile& pending) const {
        return pending.resolved ? pending.name : resolve(pending.name);
    }

    void reserve_files(std::size_t more) { source_.files.reserve(source_.files.size() + more); }
    std::size_t file_count() const { return source_.files.size(); }
    std::uint32_t add_file(SourceFile file) {
        source_.files.push_back(std::move(file));
        return static_cast<std::uint32_t>(source_.files.size() - 1);
    }
    SourceFile& file(std::uint32_t index) { return source_.files.at(index); }

private:
    ConfigSource& source_;
    std::string file_dir_;
};

void read_milter(Validator& v, const Setting& root, MilterSettings& out) {
    if (!root.exists("milter")) return;
    const Setting& m = root["milter"];
    if (!v.check_group(m, "milter", milter_settings)) return;
    if (auto socket = v.string_member(m, "milter", milter_settings, "socket")) {
        auto parsed = MilterSocket::parse(*socket);
        if (auto* why = std::get_if<std::string>(&parsed)) v.error(m["socket"], "milter.socket", *why);
        else out.socket = std::get<MilterSocket>(std::move(parsed));
    }
    if (auto user = v.string_member(m, "milter", milter_settings, "user")) {
        if (user->empty()) {
            v.error(m["user"], "milter.user", "must not be empty (\"\")");
        } else {
            out.user = *user;
            const SourceLocation where = v.at(m["user"]);
            out.user_line = where.line;
            out.user_file = where.file;
        }
    }
    if (auto timeout = v.int_member(m, "milter", milter_settings, "timeout")) out.timeout = static_cast<int>(*timeout);
    if (auto log_accepted = v.bool_member(m, "milter", milter_settings, "log_accepted")) out.log_accepted = *log_accepted;
}

// metrics.listen: an IP address the daemon binds itself (no name lookups), loopback unless
// another address is written out.
void read_metrics(Validator& v, const Setting& root, std::optional<MetricsSettings>& out) {
    if (!root.exists("metrics")) return;
    const Setting& m = root["metrics"];
    if (!v.check_group(m, "metrics", metrics_settings)) return;
    MetricsSettings settings;
    const SourceLocation where = v.at(m);
    settings.line = where.line;
    settings.file = where.file;
    bool ok = true;
    if (auto listen = v.string_member(m, "metrics", metrics_settings, "listen")) {
        auto parsed = MilterSocket::parse(*listen);
        if (auto* why = std::get_if<std::string>(&parsed)) {
            v.error(m["listen"], "metrics.listen", *why);
            ok = false;
        } else {
            MilterSocket socket = std::get<MilterSocket>(std::move(parsed));
            if (socket.is_unix()) {
                v.error(m["listen"], "metrics.listen", "must be \"inet:PORT@IP\" or \"inet6:PORT@IP\" (\"" + *listen + "\")");
                ok = false;
            } else if (socket.host().empty()) {
                socket = std::get<MilterSocket>(MilterSocket::parse(
                    (socket.family() == MilterSocket::Family::inet ? "inet:" : "inet6:") + std::to_string(socket.port()) +
                    (socket.family() == MilterSocket::Family::inet ? "@127.0.0.1" : "@::1")));
            } else if (!parse_ip_address(socket.host())) {
                v.error(m["listen"], "metrics.listen", "HOST must be an IP address, not a name (\"" + *listen + "\")");
                ok = false;
            }
            settings.listen = std::move(socket);
        }
    } else {
        ok = false;
    }
    if (auto n = v.int_member(m, "metrics", metrics_settings, "max_connections")) settings.max_connections = static_cast<int>(*n);
    if (auto n = v.int_member(m, "metrics", metrics_settings, "timeout")) settings.timeout = static_cast<int>(*n);
    if (ok) out = std::move(settings);
}

void read_local_domains(Validator& v, const Setting& root, std::vector<std::string>& out) {
    if (!root.exists("local_domains")) return;
    const Setting& s = root["local_domains"];
    std::map<std::string, SourceLocation> seen;
    v.for_each_string(s, "local_domains", [&](std::string_view text, SourceLocation at) {
        std::string canonical;
        if (canonical_domain(text, canonical) != DomainStatus::ok || !is_host_name(canonical)) {
            v.error_at(at, "local_domains: not a domain name (\"" + std::string(text) + "\"" + spelling_hint(text) + ")");
            return;
        }
        if (const auto [it, inserted] = seen.emplace(canonical, at); !inserted) {
            v.error_at(at, "local_domains: duplicate domain, first at " + v.line_ref(it->second, at) +
                               " (\"" + std::string(text) + "\")");
            return;
        }
        out.push_back(canonical);
    });
}

void read_ip_range(Validator& v, const Setting& r, const std::string& path, IpRangeConfig& out) {
    const SourceLocation at = v.at(r);
    out.line = at.line;
    out.file = at.file;
    if (!v.check_group(r, path, range_settings)) return;
    if (auto name = v.string_member(r, path, range_settings, "name")) {
        // The name stands for the range in log lines (range=...): it must say which one.
        if (name->empty()) v.error(r["name"], path + ".name", "must not be empty (\"\")");
        else if (*name == "none")
            v.error(r["name"], path + ".name", "reserved: logs say range=none for a client no range covers (\"none\")");
        else out.name = *name;
    }
    if (auto priority = v.int_member(r, path, range_settings, "priority")) out.priority = static_cast<int>(*priority);

    const bool has_bounds = r.exists("lower") || r.exists("upper");
    if (has_bounds == r.exists("cidr")) {
        v.error(r, path, "give either lower and upper, or cidr (" + out.name + ")");
    } else if (has_bounds) {
        const auto lower = v.string_member(r, path, range_settings, "lower", true);
        const auto upper = v.string_member(r, path, range_settings, "upper", true);
        if (lower && upper) {
            auto interval = make_interval(*lower, *upper);
            if (auto* bad = std::get_if<std::string>(&interval)) v.error(r["lower"], path + ".lower", *bad);
            else out.intervals.push_back(std::get<IpInterval>(interval));
        }
    } else {
        const Setting& cidr = r["cidr"];
        v.for_each_string(cidr, path + ".cidr", [&](std::string_view text, SourceLocation at) {
            auto interval = parse_cidr(text);
            if (auto* bad = std::get_if<std::string>(&interval)) v.error_at(at, path + ".cidr: " + *bad);
            else out.intervals.push_back(std::get<IpInterval>(interval));
        });
        if ((cidr.isArray() || cidr.isList()) && cidr.getLength() == 0)
            v.error(cidr, path + ".cidr", "empty list: the range would match no client (" + out.name + ")");
    }
    const auto class_set = [&](const char* key, DeliveryClassSet& set) {
        if (!r.exists(key)) return;
        v.for_each_string(r[key], Validator::join(path, key), [&](std::string_view text, SourceLocation at) {
            if (auto c = delivery_class_names.code(text)) set = set.with(*c);
            else
                v.error_at(at, Validator::join(path, key) + ": must be " + delivery_class_names.choices(" or ") +
                                     " (\"" + std::string(text) + "\")");
        });
    };
    class_set("allow", out.allow);
    class_set("require_auth", out.require_auth);
    if (auto b = v.bool_member(r, path, range_settings, "require_tls_for_auth")) out.require_tls_for_auth = *b;
    if (auto text = v.string_member(r, path, range_settings, "expires")) {
        if (auto when = parse_utc_timestamp(*text)) out.expires = *when;
        else v.error(r["expires"], path + ".expires", "not a UTC time YYYY-MM-DDTHH:MM:SSZ (\"" + *text + "\")");
    }
}

void check_range_overlaps(Validator& v, const std::vector<IpRangeConfig>& ranges) {
    struct Item {
        int priority;
        IpInterval interval;
        std::size_t range;
    };
    std::vector<Item> items;
    for (std::size_t i = 0; i < ranges.size(); ++i)
        for (const auto& interval : ranges[i].intervals) items.push_back({ranges[i].priority, interval, i});
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
        return std::tie(a.priority, a.interval.lower) < std::tie(b.priority, b.interval.lower);
    });
    for (std::size_t i = 0; i + 1 < items.size(); ++i) {
        const Item& a = items[i];
        for (std::size_t j = i + 1; j < items.size() && items[j].priority == a.priority &&
                                    !(a.interval.upper < items[j].interval.lower);
             ++j) {
            const Item& b = items[j];
            // A range whose own cidr entries overlap is harmless: the same range decides either way.
            if (a.range == b.range || !a.interval.overlaps(b.interval)) continue;
            const IpRangeConfig& later = ranges[std::max(a.range, b.range)];
            const IpRangeConfig& earlier = ranges[std::min(a.range, b.range)];
            const SourceLocation here{later.file, later.line};
            v.error_at(here, "ip_ranges: \"" + later.name + "\" overlaps \"" + earlier.name + "\" (" +
                                 v.line_ref({earlier.file, earlier.line}, here) + ") at equal priority " +
                                       std::to_string(a.priority) + " (" + to_string(b.interval) + ")");
        }
    }
}

void read_ip_ranges(Validator& v, const Setting& root, Config& config) {
    if (!root.exists("ip_ranges")) {
        config.ip_ranges = default_ip_ranges();
        config.ip_ranges_are_defaults = true;
        return;
    }
    const Setting& list = root["ip_ranges"];
    if (!list.isList()) {
        v.error(list, "ip_ranges", "expected a list ( { ... }, ... ), found " + std::string(type_name(list)));
        return;
    }
    for (int i = 0; i < list.getLength(); ++i) {
        IpRangeConfig range;
        read_ip_range(v, list[i], "ip_ranges[" + std::to_string(i) + "]", range);
        config.ip_ranges.push_back(std::move(range));
    }
    std::unordered_map<std::string_view, const IpRangeConfig*> by_name;
    for (const IpRangeConfig& range : config.ip_ranges) {
        if (range.name.empty()) continue;
        const auto [it, inserted] = by_name.emplace(range.name, &range);
        const SourceLocation here{range.file, range.line};
        if (!inserted)
            v.error_at(here, "ip_ranges: duplicate range name, first at " +
                                 v.line_ref({it->second->file, it->second->line}, here) + " (\"" + range.name + "\")");
    }
    check_range_overlaps(v, config.ip_ranges);
}

// "host": one host, or a list tried in order. hMailServer writes several hosts as "a|b"; its
// admins will type that, so it gets an error showing the list form.
void read_hosts(Validator& v, const Setting& s, const std::string& path, std::vector<std::string>& out) {
    const int count = v.for_each_string(s, path, [&](std::string_view text, SourceLocation at) {
        if (text.find('|') != std::string_view::npos) {
            std::string list;
            for (std::size_t start = 0; start <= text.size();) {
                const std::size_t bar = std::min(text.find('|', start), text.size());
                list += std::string(list.empty() ? "" : ", ") + "\"" + std::string(text.substr(start, bar - start)) + "\"";
                start = bar + 1;
            }
            v.error_at(at, path + ": several hosts are a list, tried in order: host = [ " + list + " ]; (\"" +
                               std::string(text) + "\")");
            return;
        }
        std::string canonical;
        if (text.size() > 2 && text.front() == '[' && text.back() == ']' &&
            parse_ip_address(text.substr(1, text.size() - 2)))
            canonical = std::string(text);
        else if (canonical_domain(text, canonical) != DomainStatus::ok || !is_host_name(canonical)) {
            v.error_at(at, path + ": not a host name or [IP address] (\"" + std::string(text) + "\")");
            return;
        }
        if (std::find(out.begin(), out.end(), canonical) != out.end()) {
            v.error_at(at, path + ": host listed twice (\"" + std::string(text) + "\")");
            return;
        }
        out.push_back(std::move(canonical));
    });
    if (count == 0 && (s.isArray() || s.isList()))
        v.error(s, path, "empty list: leave host out for MX delivery");
}

// What is known of a route's addresses_file once read: its mode, digest and count.
void address_file_read(Validator& v, const Validator::PendingAddressFile& pending, Config& config, std::uint32_t file,
                       mode_t mode, const std::array<unsigned char, 32>& sha256, std::size_t count) {
    RouteConfig& route = config.routes.at(pending.route);
    v.file(file).mode = mode & 07777;
    v.file(file).sha256 = sha256;
    if ((mode & (S_IWGRP | S_IWOTH)) != 0)
        v.error_at({file, 0}, "group or other users can write it; run chmod go-w (mode " + mode_text(mode) + ")");
    route.addresses_file = AddressFile{file, static_cast<std::uint32_t>(count), pending.at.line, pending.at.file};
    if (route.deliver_to == DeliverTo::listed && count == 0 && !pending.inline_listed && !route.pattern.empty())
        v.error_at({route.file, route.line}, pending.path() + ": deliver_to = \"listed\" but no addresses are listed (" +
                                                 route.pattern.text() + "; " + v.file_name(file) + " holds none)");
}

// What decides a shard of the listed-address index besides its address files' bytes: the
// routes placed in it, in order, with their domain, deliver_to, inline addresses and the file
// each reads. Read before the files, while the only records are the inline ones (route order).
std::vector<ListedAddresses::Digest> listed_inline_digests(Validator& v, const Config& config,
                                                           std::uint32_t first_file) {
    constexpr std::uint32_t shards = ListedAddresses::shard_count;
    std::vector<std::optional<Sha256Stream>> sha(shards);
    const auto put = [](Sha256Stream& to, std::string_view bytes) {
        const auto size = static_cast<std::uint32_t>(bytes.size());
        to.update(std::string_view(reinterpret_cast<const char*>(&size), sizeof size));
        to.update(bytes);
    };
    std::size_t next_file = 0;
    for (std::uint32_t i = 0; i < config.routes.size(); ++i) {
        if (!config.listed.placed(i)) continue;
        std::optional<Sha256Stream>& to = sha[config.listed.shard_of_route(i)];
        if (!to) to.emplace();
        const RouteConfig& r = config.routes[i];
        put(*to, r.pattern.text());
        put(*to, deliver_to_names.name(r.deliver_to));
        for (const ListedAddresses::Record& a : config.listed.of_route(i)) put(*to, config.listed.text(a));
        while (next_file < v.pending_address_files.size() && v.pending_address_files[next_file].route < i) ++next_file;
        put(*to, next_file < v.pending_address_files.size() && v.pending_address_files[next_file].route == i
                     ? std::string_view(v.file(first_file + static_cast<std::uint32_t>(next_file)).name)
                     : std::string_view("-"));
    }
    std::vector<ListedAddresses::Digest> out(shards);
    for (std::uint32_t s = 0; s < shards; ++s)
        if (sha[s]) out[s] = sha[s]->finish();
    return out;
}

// Each shard's digest: its inline digest, then the sha256 of each of its files in order (the
// files are Validator files first_file, first_file + 1, ..., one per pending address file). A
// shard with a file that cannot be read gets none (nullopt: never kept).
std::vector<std::optional<ListedAddresses::Digest>> listed_digests(Validator& v, const Config& config,
                                                                   const std::vector<ListedAddresses::Digest>& inline_part,
                                                                   std::uint32_t first_file,
                                                                   const std::vector<bool>& unusable) {
    constexpr std::uint32_t shards = ListedAddresses::shard_count;
    std::vector<std::optional<Sha256Stream>> sha(shards);
    std::vector<bool> usable(shards, true);
    for (std::uint32_t s = 0; s < shards; ++s) {
        if (!config.listed.digest_wanted(s)) continue;
        sha[s].emplace();
        sha[s]->update(std::string_view(reinterpret_cast<const char*>(inline_part[s].data()), inline_part[s].size()));
    }
    for (std::size_t i = 0; i < v.pending_address_files.size(); ++i) {
        const std::uint32_t s = config.listed.shard_of_route(v.pending_address_files[i].route);
        const auto& file_sha = v.file(first_file + static_cast<std::uint32_t>(i)).sha256;
        if (sha[s]) sha[s]->update(std::string_view(reinterpret_cast<const char*>(file_sha.data()), file_sha.size()));
        if (unusable[i]) usable[s] = false;
    }
    std::vector<std::optional<ListedAddresses::Digest>> out(shards);
    for (std::uint32_t s = 0; s < shards; ++s)
        if (sha[s] && usable[s]) out[s] = sha[s]->finish();
    return out;
}

// A reload: the sha256 and mode of each address file, and every shard of the running index
// whose digest is the new one's is kept instead of built again. A file whose status is the one
// the running policy read it under (address_file.hpp) is taken as read, by its status alone; the
// others are read once more to their sha256 (nothing parsed or stored). `unread` marks the first.
void keep_listed_shards(Validator& v, Config& config, const Config& running,
                        const std::vector<ListedAddresses::Digest>& inline_part, std::uint32_t first_file,
                        std::vector<bool>& unusable, std::vector<bool>& unread, std::int64_t settle_ns) {
    const std::size_t n = v.pending_address_files.size();
    // The running policy's file of the same name: most often at the same place in the table.
    std::unordered_map<std::string_view, std::uint32_t> running_index;
    const auto running_file = [&](std::uint32_t file) -> std::optional<std::uint32_t> {
        const std::string& name = v.file(file).name;
        if (file < running.files.size() && running.files[file] == name) return file;
        if (running_index.empty())
            for (std::uint32_t j = 0; j < running.files.size(); ++j) running_index.emplace(running.files[j], j);
        const auto found = running_index.find(name);
        if (found == running_index.end()) return std::nullopt;
        return found->second;
    };
    // The files the running policy read under a status it trusts, each with that entry.
    std::vector<std::optional<std::uint32_t>> was(n);
    std::vector<const std::string*> paths;
    for (std::size_t i = 0; i < n; ++i) {
        const auto file = first_file + static_cast<std::uint32_t>(i);
        const auto j = running.files_seen.empty() ? std::nullopt : running_file(file);
        if (!j || *j >= running.files_seen.size() || running.files_seen[*j].status == 0) continue;
        was[i] = j;
        paths.push_back(&v.file(file).name);
    }
    const FileStatuses now = address_file_statuses(paths);
    paths.clear();  // now: of the files to hash
    std::vector<std::uint32_t> hashed;
    for (std::size_t i = 0, k = 0; i < n; ++i) {
        SourceFile& source_file = v.file(first_file + static_cast<std::uint32_t>(i));
        if (was[i]) {
            const Config::FileSeen& seen = running.files_seen[*was[i]];
            const bool same = now.status[k] == seen.status;
            const mode_t mode = now.mode[k++];
            if (same) {
                source_file.sha256 = seen.sha256;
                source_file.mode = mode;
                source_file.status = seen.status;
                unread[i] = true;
                continue;
            }
        }
        paths.push_back(&source_file.name);
        hashed.push_back(static_cast<std::uint32_t>(i));
    }
    AddressFileQueue files(std::move(paths));
    for (const std::uint32_t i : hashed) {
        SourceFile& file = v.file(first_file + i);
        const AddressFileRead read = hash_address_file(files);
        file.sha256 = read.sha256;
        file.mode = read.mode;
        file.status = trusted_status(read, settle_ns);
        unusable[i] = read.unusable.has_value();
    }
    const auto digests = listed_digests(v, config, inline_part, first_file, unusable);
    ListedAddresses::ShardSet keep;
    for (std::uint32_t s = 0; s < ListedAddresses::shard_count; ++s) {
        const ListedAddresses::Digest* was = running.listed.digest(s);
        if (was != nullptr && digests[s] && *digests[s] == *was) keep.set(s);
    }
    config.listed.keep_shards_of(running.listed, keep);
}

// A route's addresses_file, streamed into config.listed (after the libconfig tree is freed).
// False when it cannot be read.
bool read_addresses_file(Validator& v, const Validator::PendingAddressFile& pending, Config& config, std::uint32_t file,
                         AddressFileQueue& files, std::int64_t settle_ns) {
    RouteConfig& route = config.routes.at(pending.route);
    const std::string& file_path = v.file(file).name;
    AddressFileReader reader(config.listed, pending.route, route.pattern, file, file_path);
    const AddressFileRead read = read_address_file(files, reader);
    if (read.unusable) {
        const std::string& written = pending.resolved ? file_path : pending.name;  // see read_listed
        v.error_at(pending.at, pending.path() + ".addresses_file: " + *read.unusable + " (\"" + written + "\"" +
                                   (file_path == written ? "" : ", " + file_path) + ")");
        return false;
    }
    for (Diagnostic& d : reader.errors()) v.errors.push_back(std::move(d));
    address_file_read(v, pending, config, file, read.mode, read.sha256, reader.count());
    v.file(file).status = trusted_status(read, settle_ns);
    config.listed.set_file_count(pending.route, static_cast<std::uint32_t>(reader.count()));
    return true;
}

// Every route's addresses_file, into the shards of the index; on a reload, the shards whose
// inputs are unchanged are the running policy's (each such file's count is the running one's).
void read_listed(Validator& v, Config& config, const Config* running, std::int64_t settle_ns) {
    v.reserve_files(v.pending_address_files.size());
    const auto first_file = static_cast<std::uint32_t>(v.file_count());
    for (Validator::PendingAddressFile& pending : v.pending_address_files) {
        SourceFile source_file;
        // A name taken from the running config is the path already: moved, not copied.
        source_file.name = pending.resolved ? std::move(pending.name) : v.path_of(pending);
        source_file.from_disk = true;
        source_file.addresses = true;
        v.add_file(std::move(source_file));
    }
    const std::vector<ListedAddresses::Digest> inline_part = listed_inline_digests(v, config, first_file);
    std::vector<bool> unusable(v.pending_address_files.size(), false);
    std::vector<bool> unread(v.pending_address_files.size(), false);
    if (running != nullptr)
        keep_listed_shards(v, config, *running, inline_part, first_file, unusable, unread, settle_ns);
    // Of the files to read, in order: the file table's own names (it is not added to from here).
    std::vector<const std::string*> paths;
    for (std::size_t i = 0; i < v.pending_address_files.size(); ++i)
        if (!config.listed.kept(config.listed.shard_of_route(v.pending_address_files[i].route)))
            paths.push_back(&v.file(first_file + static_cast<std::uint32_t>(i)).name);
    AddressFileQueue files(std::move(paths));
    for (std::size_t i = 0; i < v.pending_address_files.size(); ++i) {
        const Validator::PendingAddressFile& pending = v.pending_address_files[i];
        const std::uint32_t file = first_file + static_cast<std::uint32_t>(i);
        if (config.listed.kept(config.listed.shard_of_route(pending.route))) {
            address_file_read(v, pending, config, file, v.file(file).mode, v.file(file).sha256,
                              config.listed.file_count(pending.route));
            config.address_files_unread += unread[i];
        } else {
            unusable[i] = !read_addresses_file(v, pending, config, file, files, settle_ns);
        }
    }
    const auto digests = listed_digests(v, config, inline_part, first_file, unusable);
    for (std::uint32_t s = 0; s < ListedAddresses::shard_count; ++s)
        if (digests[s]) config.listed.set_digest(s, *digests[s]);
}

void read_route(Validator& v, const Setting& r, const std::string& path, Config& config, std::uint32_t index) {
    RouteConfig& out = config.routes[index];
    const SourceLocation at = v.at(r);
    out.line = at.line;
    out.file = at.file;
    if (!v.check_group(r, path, route_settings)) return;
    if (auto text = v.string_member(r, path, route_settings, "domain")) {
        auto pattern = RoutePattern::parse(*text);
        if (auto* parsed = std::get_if<RoutePattern>(&pattern)) {
            // Logs and metrics say route=none for a recipient without a route.
            if (parsed->text() == "none")
                v.error(r["domain"], path + ".domain", "reserved: logs and metrics say route=none for a recipient "
                                                       "without a route (\"" + *text + "\")");
            else out.pattern = std::move(*parsed);
        } else {
            v.error(r["domain"], path + ".domain", std::get<std::string>(pattern));
        }
    }
    const std::string& domain = out.pattern.text();  // "" when missing or bad
    if (auto d = v.string_member(r, path, route_settings, "description")) out.description = *d;
    if (r.exists("host")) read_hosts(v, r["host"], path + ".host", out.hosts);
    const auto port = v.int_member(r, path, route_settings, "port");
    if (port) out.port = static_cast<int>(*port);
    if (auto s = v.enum_member(r, path, route_settings, "security", security_names)) out.security = *s;
    if (out.security == Security::tls && !r.exists("port")) out.port = 465;
    if (auto c = v.enum_member(r, path, route_settings, "treat_sender_as", address_class_names)) out.treat_sender_as = *c;
    if (auto c = v.enum_member(r, path, route_settings, "treat_recipient_as", address_class_names)) out.treat_recipient_as = *c;
    // One rule for the milter and every MTA's maps: no route makes this server a relay for
    // domains no one server holds (open_relay.hpp).
    if (out.treat_recipient_as == AddressClass::local && !out.pattern.empty())
        if (const auto reason = open_relay_reason(out.pattern))
            v.error(r["treat_recipient_as"], path + ".treat_recipient_as",
                    "\"local\" on \"" + domain + "\" makes " + *reason +
                        " a relay destination, judged local without AUTH: an open relay (give each backup domain its "
                        "own route)");
    if (auto d = v.enum_member(r, path, route_settings, "deliver_to", deliver_to_names)) out.deliver_to = *d;
    if (auto m = v.enum_member(r, path, route_settings, "mode", mode_names)) out.mode = *m;
    if (auto n = v.int_member(r, path, route_settings, "retries")) out.retries = static_cast<int>(*n);
    if (auto n = v.int_member(r, path, route_settings, "retry_minutes")) out.retry_minutes = static_cast<int>(*n);
    if (auto b = v.bool_member(r, path, route_settings, "tls_verify")) out.tls_verify = *b;
    if (out.tls_verify && out.security != Security::starttls_required && out.security != Security::tls)
        v.error(r["tls_verify"], path + ".tls_verify",
                "needs security \"starttls-required\" or \"tls\": a certificate is only checked on a connection "
                "that must be encrypted (security \"" + std::string(name_of(out.security)) + "\")");
    if (out.tls_verify)
        for (const std::string& host : out.hosts)
            if (host.front() == '[')
                v.error(r["tls_verify"], path + ".tls_verify",
                        "a certificate names a host, and " + host + " is an IP address: give the host's name");
    if (auto b = v.bool_member(r, path, route_settings, "etrn")) out.etrn = *b;
    if (out.etrn && !out.pattern.empty() && !out.pattern.is_exact())
        v.error(r["etrn"], path + ".etrn",
                "ETRN names one domain: an ETRN route must be for an exact domain, not " + domain);
    if (port && !r.exists("host") && r.exists("domain"))
        v.error(r["port"], path + ".port", "port without host: MX delivery always uses port 25 (" +
                                               std::to_string(out.port) + ")");

    if (r.exists("auth")) {
        const Setting& a = r["auth"];
        const std::string apath = path + ".auth";
        if (v.check_group(a, apath, auth_settings)) {
            auto user = v.string_member(a, apath, auth_settings, "user");
            auto password = v.string_member(a, apath, auth_settings, "password");
            if (password) v.password_files.push_back(v.at(a["password"]).file);
            if (user && user->empty()) v.error(a["user"], apath + ".user", "must not be empty (\"\")");
            else if (user && password) out.auth = std::make_shared<const RouteAuth>(RouteAuth{*user, *password});
            if (out.auth && out.hosts.empty())
                v.error(a, apath, "SMTP AUTH needs the route's host (set host for " + domain + ")");
        }
    }

    const std::size_t listed_before = config.listed.record_count();
    if (r.exists("addresses") || r.exists("addresses_file")) config.listed.place_route(index, out.pattern.text());
    if (r.exists("addresses")) {
        NormalizedAddress parsed;
        v.for_each_string(r["addresses"], path + ".addresses", [&](std::string_view text, SourceLocation at) {
            const AddressStatus status = parse_address(text, parsed);
            if (status != AddressStatus::ok || !parsed.has_domain() || parsed.local().empty()) {
                v.error_at(at, path + ".addresses: " +
                                     std::string(status == AddressStatus::ok ? "not local@domain" : describe(status)) +
                                     " (\"" + std::string(text) + "\"" + spelling_hint(text) + ")");
                return;
            }
            if (!out.pattern.empty() && !out.pattern.matches(parsed.domain())) {
                v.error_at(at, path + ".addresses: address outside the route's domain " + domain + " (\"" +
                                     std::string(text) + "\")");
                return;
            }
            config.listed.add(parsed.text(), index, at.line, at.file);
        });
    }
    const bool none_listed = config.listed.record_count() == listed_before;
    if (r.exists("addresses_file")) {
        if (auto name = v.string_member(r, path, route_settings, "addresses_file")) {
            if (name->empty()) v.error(r["addresses_file"], path + ".addresses_file", "must not be empty (\"\")");
            else v.pending_address_files.push_back({index, *name, v.at(r["addresses_file"]), !none_listed});
        }
    } else if (out.deliver_to == DeliverTo::listed && none_listed && r.exists("domain")) {
        v.error(r, path, "deliver_to = \"listed\" but no addresses are listed (" + domain + ")");
    }
    if (out.deliver_to == DeliverTo::all && (r.exists("addresses") || r.exists("addresses_file"))) {
        const char* key = r.exists("addresses") ? "addresses" : "addresses_file";
        v.error(r[key], path + "." + key,
                "addresses are listed but deliver_to is \"all\"; set deliver_to = \"listed\" (" + domain + ")");
    }
}

// Duplicate route domains (after canonicalisation: case, trailing dot, IDN). The address
// checks that need the whole route table (duplicates, addresses a more specific route takes)
// are made by compile_policy while it indexes them.
void check_route_domains(Validator& v, const std::vector<RouteConfig>& routes) {
    std::unordered_map<std::string_view, std::size_t> by_domain;
    for (std::size_t i = 0; i < routes.size(); ++i) {
        const RouteConfig& r = routes[i];
        if (r.pattern.empty()) continue;
        const auto [it, inserted] = by_domain.emplace(r.pattern.text(), i);
        const SourceLocation here{r.file, r.line};
        const RouteConfig& first = routes[it->second];
        if (!inserted)
            v.error_at(here, "routes: duplicate route domain, first at " + v.line_ref({first.file, first.line}, here) +
                                 " (\"" + r.pattern.text() + "\")");
    }
}

// sliced: the route list is read apart, a slice at a time (read_sliced); here it is empty.
void read_root(Validator& v, const Setting& root, Config& config, bool sliced = false) {
    v.check_group(root, "", root_settings);
    read_milter(v, root, config.milter);
    read_metrics(v, root, config.metrics);
    if (auto s = v.enum_member(root, "", root_settings, "scope", scope_names)) config.scope = *s;
    if (auto m = v.enum_member(root, "", root_settings, "mode", mode_names)) config.mode = *m;
    read_local_domains(v, root, config.local_domains);
    read_ip_ranges(v, root, config);
    if (root.exists("routes")) {
        const Setting& list = root["routes"];
        if (!list.isList()) {
            v.error(list, "routes", "expected a list ( { ... }, ... ), found " + std::string(type_name(list)));
        } else if (!sliced) {
            config.routes.resize(static_cast<std::size_t>(list.getLength()));
            for (int i = 0; i < list.getLength(); ++i)
                read_route(v, list[i], "routes[" + std::to_string(i) + "]", config, static_cast<std::uint32_t>(i));
            check_route_domains(v, config.routes);
        }
    }
}

// Reads `text` into `tree`; false on a syntax error (what and where in `error`, `line`).
bool parse_text(libconfig::Config& tree, std::string_view text, std::string& error, unsigned& line) {
    // config_source expanded every @include. Should libconfig still meet one, version 1.5
    // puts include_dir and "/" before every name, and nothing can be opened under /dev/null.
    tree.setIncludeDir("/dev/null");
    try {
        if (text.empty()) {
            tree.readString("");
        } else {
            // From memory without the copy readString() would make of a big config.
            const std::unique_ptr<FILE, int (*)(FILE*)> in(
                ::fmemopen(const_cast<char*>(text.data()), text.size(), "r"), &std::fclose);
            if (!in) throw libconfig::FileIOException();
            tree.read(in.get());
        }
        return true;
    } catch (const libconfig::ParseException& e) {
        error = std::string("syntax error: ") + e.getError();
        line = static_cast<unsigned>(e.getLine());
    } catch (const libconfig::FileIOException&) {
        error = "cannot read the file";
        line = 0;
    }
    return false;
}

// The libconfig trees of a sliced route list, parsed on a thread of their own while the caller
// reads the routes of the tree before (on two cores libconfig's parse, and the freeing of each
// tree, run beside read_route). Trees come out in order; at most `ahead` wait, and each is
// handed back to be freed on that thread too. Destroying the parser stops the thread and joins
// it, whether or not every slice was taken. Without a thread to be had, take() parses itself.
class SliceParser {
public:
    // A refused slice sends the caller back to the whole text, whose errors are reported: its
    // own error is not kept.
    struct Slice {
        std::unique_ptr<libconfig::Config> tree;  // nullptr: libconfig refused the text
        std::exception_ptr failure;               // thrown by take(): out of memory, say
    };

    SliceParser(std::function<std::string(std::size_t)> text_of, std::size_t count, std::size_t ahead = 2)
        : text_of_(std::move(text_of)), count_(count), ahead_(std::max<std::size_t>(ahead, 1)) {
        if (count_ < 2) return;
        // The thread takes no signal: the daemon waits for its own with sigwait on another one.
        sigset_t all, was;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &was);
        try {
            thread_ = std::thread([this] { run(); });
        } catch (const std::system_error&) {  // parse each slice when taken
        }
        pthread_sigmask(SIG_SETMASK, &was, nullptr);
    }
    SliceParser(const SliceParser&) = delete;
    SliceParser& operator=(const SliceParser&) = delete;
    ~SliceParser() {
        if (!thread_.joinable()) return;
        {
            const std::lock_guard lock(mutex_);
            stop_ = true;
        }
        room_.notify_one();
        thread_.join();
    }

    Slice take() {
        Slice slice;
        if (!thread_.joinable()) {
            slice = parse(taken_++);
        } else {
            std::unique_lock lock(mutex_);
            ready_cv_.wait(lock, [&] { return !ready_.empty(); });
            slice = std::move(ready_.front());
            ready_.pop_front();
            lock.unlock();
            room_.notify_one();
        }
        if (slice.failure) std::rethrow_exception(slice.failure);
        return slice;
    }

    void give_back(std::unique_ptr<libconfig::Config> tree) {
        if (!thread_.joinable()) return;  // freed here
        {
            const std::lock_guard lock(mutex_);
            spent_.push_back(std::move(tree));
        }
        room_.notify_one();
    }

private:
    Slice parse(std::size_t index) const {
        Slice slice;
        try {
            const std::string text = text_of_(index);
            slice.tree = std::make_unique<libconfig::Config>();
            std::string error;
            unsigned line = 0;
            if (!parse_text(*slice.tree, text, error, line)) slice.tree.reset();
        } catch (...) {
            slice.tree.reset();
            slice.failure = std::current_exception();
        }
        return slice;
    }

    void run() {
        std::size_t next = 0;
        for (;;) {
            std::vector<std::unique_ptr<libconfig::Config>> spent;
            bool stopping = false;
            bool parse_next = false;
            {
                std::unique_lock lock(mutex_);
                room_.wait(lock, [&] { return stop_ || !spent_.empty() || (next < count_ && ready_.size() < ahead_); });
                spent.swap(spent_);
                stopping = stop_;
                parse_next = !stopping && next < count_ && ready_.size() < ahead_;
            }
            spent.clear();  // libconfig frees a tree outside the lock
            if (stopping) return;
            if (!parse_next) continue;
            Slice slice = parse(next++);
            const bool last = !slice.tree || next == count_;
            {
                const std::lock_guard lock(mutex_);
                ready_.push_back(std::move(slice));
            }
            ready_cv_.notify_one();
            if (last) next = count_;  // nothing after a refused slice: the caller starts again
        }
    }

    std::function<std::string(std::size_t)> text_of_;
    const std::size_t count_;
    const std::size_t ahead_;
    std::size_t taken_ = 0;  // without a thread
    std::mutex mutex_;
    std::condition_variable room_;      // the thread waits: room ahead, a tree to free, or stop
    std::condition_variable ready_cv_;  // the caller waits: a slice parsed
    std::deque<Slice> ready_;
    std::vector<std::unique_ptr<libconfig::Config>> spent_;
    bool stop_ = false;
    std::thread thread_;
};

// A big route list read a slice at a time (route_list_scan.hpp): first the config with the
// list left empty (its lines kept, so every line number stays), then `slicing.routes` groups
// at a time, each tree freed before the next. False when libconfig refuses any part: the
// caller then starts again from the whole text, so a syntax error reads as it always did.
bool read_sliced(Validator& v, const std::string& text, const RouteListLayout& layout, Config& config,
                 RouteSlicing slicing) {
    const std::vector<RouteListElement>& el = layout.elements;
    std::string error;
    unsigned line = 0;
    {
        const auto newlines = static_cast<std::size_t>(std::count(text.begin() + static_cast<std::ptrdiff_t>(el.front().begin),
                                                                  text.begin() + static_cast<std::ptrdiff_t>(el.back().end), '\n'));
        std::string rest;
        rest.reserve(text.size() - (el.back().end - el.front().begin) + newlines);
        rest.append(text, 0, el.front().begin);
        rest.append(newlines, '\n');
        rest.append(text, el.back().end);
        libconfig::Config tree;
        if (!parse_text(tree, rest, error, line)) return false;
        read_root(v, tree.getRoot(), config, true);
    }
    const std::size_t per_slice = std::max<std::size_t>(slicing.routes, 1);
    config.routes.resize(el.size());
    // No doubling copies while the text is still held (most big lists name a file per route).
    v.pending_address_files.reserve(el.size());
    const std::size_t slices = (el.size() + per_slice - 1) / per_slice;
    const auto bounds = [&](std::size_t k) {  // slice k's routes: [first, last)
        return std::make_pair(k * per_slice, std::min(el.size(), (k + 1) * per_slice));
    };
    SliceParser parser(
        [&](std::size_t k) {
            const auto [first, last] = bounds(k);
            std::string piece("routes = (");
            piece.append(text, el[first].begin, el[last - 1].end - el[first].begin);
            piece.append(");");
            return piece;
        },
        slices);
    for (std::size_t k = 0; k < slices; ++k) {
        const auto [first, last] = bounds(k);
        SliceParser::Slice slice = parser.take();
        if (!slice.tree) return false;
        const Setting& list = slice.tree->getRoot()["routes"];
        if (static_cast<std::size_t>(list.getLength()) != last - first) return false;  // not what the scan saw
        v.line_base = el[first].line - 1;
        for (std::size_t i = first; i < last; ++i)
            read_route(v, list[static_cast<int>(i - first)], "routes[" + std::to_string(i) + "]", config,
                       static_cast<std::uint32_t>(i));
        v.line_base = 0;
        parser.give_back(std::move(slice.tree));
    }
    check_route_domains(v, config.routes);
    return true;
}

// The identity of the config files as read (before any address file joins the table): each
// one's name, mode and sha256, in the order met. The same identity, the same parse.
std::array<unsigned char, 32> text_identity_of(const std::vector<SourceFile>& files) {
    Sha256Stream sha;
    for (const SourceFile& f : files) {
        const auto size = static_cast<std::uint32_t>(f.name.size());
        const auto mode = static_cast<std::uint32_t>(f.mode);
        const unsigned char disk = f.from_disk ? 1 : 0;
        sha.update(std::string_view(reinterpret_cast<const char*>(&size), sizeof size));
        sha.update(f.name);
        sha.update(std::string_view(reinterpret_cast<const char*>(&mode), sizeof mode));
        sha.update(std::string_view(reinterpret_cast<const char*>(&disk), 1));
        sha.update(std::string_view(reinterpret_cast<const char*>(f.sha256.data()), f.sha256.size()));
    }
    return sha.finish();
}

// What parsing the same files again would give, from the running config that parsed them
// (Config::parse_reusable): its settings and routes, each addresses_file pending again under
// the path it was opened by, and each listing route placed in the index in the same order.
// The addresses themselves are read (or their shards kept) by read_listed, as after a parse.
void reuse_parse(Validator& v, const Config& running, Config& config) {
    config.milter = running.milter;
    config.metrics = running.metrics;
    config.scope = running.scope;
    config.mode = running.mode;
    config.local_domains = running.local_domains;
    config.ip_ranges = running.ip_ranges;
    config.ip_ranges_are_defaults = running.ip_ranges_are_defaults;
    config.routes = running.routes;
    std::size_t files = 0;
    for (const RouteConfig& r : config.routes) files += r.addresses_file.has_value();
    v.pending_address_files.reserve(files);
    for (std::uint32_t i = 0; i < config.routes.size(); ++i) {
        RouteConfig& r = config.routes[i];
        r.listed_place = UINT32_MAX;
        if (!r.addresses_file) continue;
        const AddressFile file = *r.addresses_file;
        r.addresses_file.reset();
        config.listed.place_route(i, r.pattern.text());
        v.pending_address_files.push_back(
            {i, std::string(running.files.at(file.file)), SourceLocation{file.config_file, file.line}, false, true});
    }
    config.parse_reused = true;
}

// A reload whose config files (the main file and each @include) all have the status the running
// config read them under, trusted (address_file.hpp): the files as the running config read them,
// without reading them again: names, modes and sha256, and no text, for they are not parsed
// either (draft_from takes the running parse over, the identity being the same). nullopt when
// any file must be read: a status changed, not trusted, or none to be had.
std::optional<ConfigSource> unchanged_config_source(const std::string& path, const Config& running) {
    if (!running.parse_reusable || running.files.empty() || running.files[0] != path ||
        running.files_seen.size() != running.files.size())
        return std::nullopt;
    // The config files come first in the table, each with its status; the address files after.
    std::vector<std::string> names;
    std::vector<const std::string*> paths;
    for (std::size_t i = 0; i < running.files.size() && i < running.config_file_count; ++i)
        names.emplace_back(running.files[i]);
    if (names.empty()) return std::nullopt;
    for (const std::string& name : names) paths.push_back(&name);
    const FileStatuses now = address_file_statuses(paths);
    ConfigSource out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        const Config::FileSeen& seen = running.files_seen[i];
        if (seen.status == 0 || now.status[i] != seen.status) return std::nullopt;
        out.files.push_back({std::move(names[i]), now.mode[i] & 07777, true, seen.sha256, false, seen.status});
    }
    if (text_identity_of(out.files) != running.text_identity) return std::nullopt;
    out.complete = true;
    out.unread = true;
    return out;
}

// Parses the checked text of the config and its @includes and validates the tree. The text and
// the tree are freed before returning: they are the big part, the caller compiles a policy next.
ConfigDraft draft_from(ConfigSource source, RouteSlicing slicing, const Config* running, std::int64_t settle_ns,
                       ParseReuse reuse) {
    ConfigDraft draft;
    Config& config = draft.config;
    config.file = source.files.front().name;
    config.digest = config_digest(source.files);
    for (const SourceFile& f : source.files) config.files.push_back(f.name);
    Validator v(source);
    v.errors = std::move(source.errors);
    if (!source.complete) {
        sort_diagnostics(v.errors);
        draft.errors = std::move(v.errors);
        return draft;
    }
    config.text_identity = text_identity_of(source.files);
    if (reuse == ParseReuse::allowed && running != nullptr && running->parse_reusable &&
        running->text_identity == config.text_identity && v.errors.empty() && source.files.front().from_disk) {
        reuse_parse(v, *running, config);
        draft.parsed = true;
    }
    // unchanged_config_source checked the identity: never met. Were it, the text is read after all.
    if (source.unread && !draft.parsed)
        return draft_from(read_config_source_file(source.files.front().name, settle_ns), slicing, running, settle_ns,
                          ParseReuse::never);
    std::optional<RouteListLayout> layout;
    if (!draft.parsed && source.text.size() >= slicing.text_bytes) layout = scan_route_list(source.text);
    if (layout && layout->elements.size() >= slicing.from_routes) {
        const Diagnostics before = v.errors;
        if (read_sliced(v, source.text, *layout, config, slicing)) {
            draft.parsed = true;
        } else {  // from the start, the whole text at once
            v.errors = before;
            v.password_files.clear();
            v.pending_address_files.clear();
            v.line_base = 0;
            Config fresh;
            fresh.file = std::move(config.file);
            fresh.digest = std::move(config.digest);
            fresh.files = std::move(config.files);
            config = std::move(fresh);
        }
    }
    layout.reset();
    if (!draft.parsed) {
        libconfig::Config tree;
        std::string error;
        unsigned line = 0;
        const bool read = parse_text(tree, source.text, error, line);
        if (!read) v.error_at(v.locate(line), error);
        if (read) {
            read_root(v, tree.getRoot(), config);
            draft.parsed = true;
        }
    }
    std::string().swap(source.text);
    // Only inline addresses are records yet: without any, the next reload may take this parse.
    config.parse_reusable = draft.parsed && source.files.front().from_disk && config.listed.record_count() == 0;
    if (config.listed.shards_in_use() != 0) {
        // The tree is gone: give its pages back before the addresses take their place.
        if (config.routes.size() >= 1000) malloc_trim(0);
        read_listed(v, config, running, settle_ns);
        std::vector<Validator::PendingAddressFile>().swap(v.pending_address_files);
    }
    // Each file that holds a route password must be closed to other users (like ssh's keys).
    std::sort(v.password_files.begin(), v.password_files.end());
    v.password_files.erase(std::unique(v.password_files.begin(), v.password_files.end()), v.password_files.end());
    for (const std::uint32_t f : v.password_files) {
        const SourceFile& file = source.files.at(f);
        if (file.from_disk && (file.mode & S_IROTH) != 0) {
            char mode[8];
            std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(file.mode & 07777));
            v.error_at({f, 0}, std::string("holds route passwords but other users can read it; run chmod o-rwx (mode ") +
                                   mode + ")");
        }
    }
    // The libconfig tree was the biggest allocation (a million small blocks for a big route
    // list); hand its pages back now so that compiling the policy does not add to the peak.
    // Small configs skip it: trimming costs more than they ever held.
    if (config.routes.size() >= 1000) malloc_trim(0);
    config.digest = config_digest(source.files);
    // With the address files; the names move (the diagnostics above hold their own copies).
    config.files.clear();
    std::size_t name_bytes = 0;
    for (const SourceFile& f : source.files) name_bytes += f.name.size();
    config.files.reserve(source.files.size(), name_bytes);
    config.files_seen.clear();
    if (source.files.front().from_disk) {
        config.files_seen.resize(source.files.size());
        for (std::size_t i = 0; i < source.files.size(); ++i)
            config.files_seen[i] = {source.files[i].sha256, source.files[i].status};
    }
    config.config_files_unread = source.unread;
    config.config_file_count = static_cast<std::uint32_t>(
        std::count_if(source.files.begin(), source.files.end(), [](const SourceFile& f) { return !f.addresses; }));
    for (const SourceFile& f : source.files) config.files.push_back(f.name);
    sort_diagnostics(v.errors);
    draft.errors = std::move(v.errors);
    return draft;
}

ConfigResult accept(ConfigDraft draft) {
    ConfigResult result;
    result.errors = std::move(draft.errors);
    if (draft.parsed && result.errors.empty()) result.config = std::move(draft.config);
    return result;
}

}  // namespace

std::vector<IpRangeConfig> default_ip_ranges() {
    const auto interval = [](const char* cidr) { return std::get<IpInterval>(parse_cidr(cidr)); };
    IpRangeConfig my_computer;
    my_computer.name = "My computer";
    my_computer.intervals = {interval("127.0.0.1/32"), interval("::1/128")};
    my_computer.priority = 30;
    my_computer.allow = DeliveryClassSet::all();
    my_computer.require_auth = DeliveryClassSet().with(DeliveryClass::external_external);
    IpRangeConfig internet;
    internet.name = "Internet";
    internet.intervals = {interval("0.0.0.0/0"), interval("::/0")};
    internet.priority = 10;
    internet.allow = DeliveryClassSet::all();
    internet.require_auth = DeliveryClassSet()
                                .with(DeliveryClass::local_local)
                                .with(DeliveryClass::local_external)
                                .with(DeliveryClass::external_external);
    return {my_computer, internet};
}

ConfigDraft read_config_text(std::string_view text, const std::string& name, RouteSlicing slicing) {
    return draft_from(read_config_source_text(text, name), slicing, nullptr, 0, ParseReuse::never);
}

ConfigDraft read_config_file(const std::string& path, RouteSlicing slicing, const Config* running,
                             std::int64_t settle_ns, ParseReuse reuse) {
    if (reuse == ParseReuse::allowed && running != nullptr)
        if (std::optional<ConfigSource> same = unchanged_config_source(path, *running))
            return draft_from(std::move(*same), slicing, running, settle_ns, reuse);
    return draft_from(read_config_source_file(path, settle_ns), slicing, running, settle_ns, reuse);
}

ConfigResult load_config_text(std::string_view text, const std::string& name) {
    return accept(read_config_text(text, name));
}

ConfigResult load_config_file(const std::string& path) { return accept(read_config_file(path)); }

}  // namespace route_milter
