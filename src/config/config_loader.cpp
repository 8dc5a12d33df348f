// config_loader.cpp - libconfig tree -> validated Config, collecting every problem.
#include "route_milter/config/config_loader.hpp"

#include "route_milter/config/address_file.hpp"
#include "route_milter/config/config_digest.hpp"
#include "route_milter/config/config_source.hpp"
#include "route_milter/config/open_relay.hpp"
#include "route_milter/core/address.hpp"
#include "route_milter/core/closest_name.hpp"
#include "route_milter/core/domain.hpp"
#include "route_milter/core/printable.hpp"
#include "route_milter/core/setting_bounds.hpp"
#include "route_milter/core/utc_time.hpp"

#include <libconfig.h++>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <tuple>
#include <unordered_map>
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
constexpr SettingRow root_settings[] = {{"image"}, {"milter", H::group}, {"metrics", H::group}, {"scope"}, {"mode"},
                                        {"local_domains", H::strings}, {"ip_ranges", H::list}, {"routes", H::list}};
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
        const InputFile& main = source.files.front();
        const std::size_t slash = main.name.rfind('/');
        if (main.from_disk && slash != std::string::npos) file_dir_ = main.name.substr(0, slash + 1);
    }

    Diagnostics errors;
    std::vector<std::uint32_t> password_files;  // where each route password is written
    // addresses_file settings met in the tree, read once the tree is freed (it and a million
    // addresses would otherwise add up to the peak).
    struct PendingAddressFile {
        std::uint32_t route;
        std::string name;    // as written
        // Its route's setting path, "routes[3]" (made when needed: a hundred thousand of these
        // are held while the config text is).
        std::string path() const { return "routes[" + std::to_string(route) + "]"; }
        SourceLocation at;   // of the addresses_file setting
        bool inline_listed;  // the route lists addresses inline too
    };
    std::vector<PendingAddressFile> pending_address_files;

    SourceLocation locate(unsigned text_line) const { return source_.locate(text_line); }
    SourceLocation at(const Setting& s) const { return locate(s.getSourceLine()); }
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
            if (std::any_of(known.begin(), known.end(), [&](const SettingRow& row) { return row.name == name; }))
                continue;
            std::vector<std::string_view> names;
            for (const SettingRow& row : known) names.push_back(row.name);
            const auto meant = closest_name(name, names);
            error(child, join(path, name),
                  "unknown setting (" + std::string(name) + ")" + (meant ? "; did you mean " + std::string(*meant) + "?" : ""));
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
            const SourceLocation where = locate(e.getSourceLine() != 0 ? e.getSourceLine() : s.getSourceLine());
            if (one_line(where, path + "[" + std::to_string(i) + "]", e.c_str())) fn(std::string_view(e.c_str()), where);
        }
        return s.getLength();
    }

    static std::string join(const std::string& path, std::string_view key) {
        return path.empty() ? std::string(key) : path + "." + std::string(key);
    }

    std::string resolve(const std::string& name) const { return name.front() == '/' ? name : file_dir_ + name; }

    void reserve_files(std::size_t more) { source_.files.reserve(source_.files.size() + more); }
    std::uint32_t add_file(InputFile file) {
        source_.files.push_back(std::move(file));
        return static_cast<std::uint32_t>(source_.files.size() - 1);
    }
    InputFile& file(std::uint32_t index) { return source_.files.at(index); }

private:
    ConfigSource& source_;
    std::string file_dir_;
};

// image: where `routectl compile` writes the policy image unless told otherwise.
void read_image(Validator& v, const Setting& root, Config& config) {
    const auto path = v.string_member(root, "", root_settings, "image");
    if (!path) return;
    const Setting& s = root["image"];
    if (path->empty() || path->front() != '/') {
        v.error(s, "image", "must be an absolute path (\"" + *path + "\")");
    } else if (path->back() == '/') {
        v.error(s, "image", "names a directory (it ends in '/'): give the image file's path (\"" + *path + "\")");
    } else {
        config.image = *path;
        const SourceLocation where = v.at(s);
        config.image_line = where.line;
        config.image_file = where.file;
    }
}

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

// Every route's addresses_file, streamed into config.listed after the libconfig tree is freed
// (it and a million addresses would otherwise add up to the peak), one file after the other.
void read_listed(Validator& v, Config& config) {
    v.reserve_files(v.pending_address_files.size());
    FileOpener opener;  // most address files share a directory, which is then walked once
    std::vector<char> buffer(std::size_t{1} << 16);
    for (const Validator::PendingAddressFile& pending : v.pending_address_files) {
        const std::uint32_t file = v.add_file({v.resolve(pending.name), true, {}, true, {}});
        const std::string& path = v.file(file).name;
        RouteConfig& route = config.routes.at(pending.route);
        AddressFileReader reader(config.listed, pending.route, route.pattern, file, path);
        const AddressFileRead read = read_address_file(opener, path, reader, buffer);
        if (read.unusable) {
            v.error_at(pending.at, pending.path() + ".addresses_file: " + *read.unusable + " (\"" + pending.name + "\"" +
                                       (path == pending.name ? "" : ", " + path) + ")");
            continue;
        }
        for (Diagnostic& d : reader.errors()) v.errors.push_back(std::move(d));
        v.file(file).sha256 = read.sha256;
        v.file(file).identity = read.identity;
        if ((read.identity.mode & (S_IWGRP | S_IWOTH)) != 0)
            v.error_at({file, 0}, "group or other users can write it; run chmod go-w (mode " +
                                      mode_text(read.identity.mode) + ")");
        const auto count = static_cast<std::uint32_t>(reader.count());
        route.addresses_file = AddressFile{file, count, pending.at.line, pending.at.file};
        if (route.deliver_to == DeliverTo::listed && count == 0 && !pending.inline_listed && !route.pattern.empty())
            v.error_at({route.file, route.line}, pending.path() + ": deliver_to = \"listed\" but no addresses are listed (" +
                                                     route.pattern.text() + "; " + path + " holds none)");
    }
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
    if (auto s = v.enum_member(r, path, route_settings, "security", security_names)) {
        out.security = *s;
        out.security_given = true;
    }
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
// are made by compile_checks while it indexes them.
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

void read_root(Validator& v, const Setting& root, Config& config) {
    v.check_group(root, "", root_settings);
    read_image(v, root, config);
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
        } else {
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

// Where the files went: the config's file table, each one's identity and the digest of them all.
void record_files(Config& config, const ConfigSource& source) {
    std::size_t name_bytes = 0;
    for (const InputFile& f : source.files) name_bytes += f.name.size();
    config.files.clear();
    config.files.reserve(source.files.size(), name_bytes);
    config.sources.clear();
    config.sources.reserve(source.files.size());
    std::vector<Sha256> sha256;
    sha256.reserve(source.files.size());
    for (const InputFile& f : source.files) {
        config.files.push_back(f.name);
        config.sources.push_back(f.identity);
        sha256.push_back(f.sha256);
    }
    config.digest = config_digest(sha256);
    config.config_file_count = static_cast<std::uint32_t>(
        std::count_if(source.files.begin(), source.files.end(), [](const InputFile& f) { return !f.addresses; }));
}

// Parses the checked text of the config and its @includes, validates the tree, then reads the
// address files. The text and the tree are freed first: they are the big part of a big config.
ConfigDraft draft_from(ConfigSource source) {
    ConfigDraft draft;
    Config& config = draft.config;
    config.file = source.files.front().name;
    Validator v(source);
    v.errors = std::move(source.errors);
    if (source.complete) {
        libconfig::Config tree;
        std::string error;
        unsigned line = 0;
        if (parse_text(tree, source.text, error, line)) {
            read_root(v, tree.getRoot(), config);
            draft.parsed = true;
        } else {
            v.error_at(v.locate(line), error);
        }
    }
    std::string().swap(source.text);
    if (!v.pending_address_files.empty()) read_listed(v, config);
    // Each file that holds a route password must be closed to other users (like ssh's keys).
    std::sort(v.password_files.begin(), v.password_files.end());
    v.password_files.erase(std::unique(v.password_files.begin(), v.password_files.end()), v.password_files.end());
    for (const std::uint32_t f : v.password_files) {
        const InputFile& file = source.files.at(f);
        if (file.from_disk && (file.identity.mode & S_IROTH) != 0)
            v.error_at({f, 0}, "holds route passwords but other users can read it; run chmod o-rwx (mode " +
                                   mode_text(file.identity.mode) + ")");
    }
    record_files(config, source);
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

ConfigDraft read_config_text(std::string_view text, const std::string& name) {
    return draft_from(read_config_source_text(text, name));
}

ConfigDraft read_config_file(const std::string& path) { return draft_from(read_config_source_file(path)); }

ConfigResult load_config_text(std::string_view text, const std::string& name) {
    return accept(read_config_text(text, name));
}

ConfigResult load_config_file(const std::string& path) { return accept(read_config_file(path)); }

}  // namespace route_milter
