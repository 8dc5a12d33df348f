// import.cpp - HmsBackup -> route-milter.conf text and the report of what was not mapped as it was.
#include "route_milter/hmailserver/import.hpp"

#include "route_milter/core/address.hpp"
#include "route_milter/core/delivery_class.hpp"
#include "route_milter/core/domain.hpp"
#include "route_milter/core/ip_address.hpp"
#include "route_milter/core/ip_range.hpp"
#include "route_milter/core/printable.hpp"
#include "route_milter/core/route_pattern.hpp"
#include "route_milter/core/setting_bounds.hpp"
#include "route_milter/core/string_index.hpp"
#include "route_milter/core/utc_time.hpp"
#include "route_milter/hmailserver/password.hpp"
#include "route_milter/hmailserver/wildcard.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <tuple>
#include <variant>

namespace route_milter::hmailserver {
namespace {

// Server/Common/BO/SecurityRange.h: the option bits of a range.
constexpr long long option_smtp = 1;
constexpr long long option_require_tls_for_auth = 131072;
struct ClassBits {
    DeliveryClass cls;
    long long allow;
    long long auth;
};
constexpr std::array<ClassBits, 4> class_bits{{{DeliveryClass::local_local, 64, 8192},
                                                {DeliveryClass::local_external, 128, 16384},
                                                {DeliveryClass::external_local, 256, 32768},
                                                {DeliveryClass::external_external, 512, 65536}}};

// A libconfig string literal: every byte that could end or bend it escaped.
std::string quoted(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') out += {'\\', ch};
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else if (c < 0x20 || c == 0x7f) out += {'\\', 'x', hex[c >> 4], hex[c & 15]};
        else out += ch;
    }
    return out + "\"";
}

// Text from the backup shown in a note: one line, no control characters, whole.
std::string shown(std::string_view s) {
    std::string out;
    for (const char ch : s) out += static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f ? '?' : ch;
    return out;
}

// `text` whole as comment lines ("<indent># ...", the lines after the first "<indent># <hang>..."),
// broken at blanks near 100 columns (a longer word stays whole on its line); every control
// character, a line's end among them, a blank, so nothing in it can end the comment.
std::string comment_lines(std::string_view indent, std::string_view text, std::string_view hang = {}) {
    constexpr std::size_t width = 96;
    const std::string clean = without_controls(text);
    const std::string_view rest = clean;
    std::string out;
    std::size_t pos = 0;
    do {
        std::size_t end = rest.size(), next = rest.size();
        if (rest.size() - pos > width) {
            std::size_t blank = rest.rfind(' ', pos + width);
            if (blank == std::string_view::npos || blank <= pos) blank = rest.find(' ', pos + width);
            if (blank != std::string_view::npos) end = blank, next = blank + 1;
        }
        out += std::string(indent) + "# " + std::string(pos == 0 ? "" : hang) + std::string(rest.substr(pos, end - pos)) + "\n";
        pos = next;
    } while (pos < rest.size());
    return out;
}

// `text` as adjacent libconfig strings (which it joins into one) of about 72 bytes, each on its
// own line after the first, cut after a blank where one is near and never inside a UTF-8
// character: a long description is written whole and stays readable.
std::string wrapped_string(std::string_view text, std::string_view indent) {
    constexpr std::size_t width = 72;
    std::string out;
    std::size_t pos = 0;
    do {
        std::size_t end = text.size();
        if (text.size() - pos > width) {
            end = pos + width;
            if (const std::size_t blank = text.rfind(' ', end - 1); blank != std::string_view::npos && blank > pos + width / 2)
                end = blank + 1;
            else
                while (end > pos + 1 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
        }
        if (pos > 0) out += "\n" + std::string(indent);
        out += quoted(text.substr(pos, end - pos));
        pos = end;
    } while (pos < text.size());
    return out;
}

std::string trimmed(std::string_view s) {
    const auto first = s.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    return std::string(s.substr(first, s.find_last_not_of(" \t") - first + 1));
}

// hMailServer compares names without regard to case and keeps them as typed; route-milter takes
// a U-label domain only in the one spelling its A-labels give back (domain.hpp: canonical_spelling
// finds it), the one Postfix's maps hold: a name in another is imported in that one, with a note.
std::string respelled_note(std::string_view from, std::string_view to) {
    return "\"" + shown(from) + "\" written as \"" + shown(to) +
           "\", the one spelling of its A-labels that route-milter and Postfix's maps take";
}

std::string string_list(const std::vector<std::string>& items, const char* indent) {
    if (items.empty()) return "[ ]";
    std::string out = "[ ";
    std::size_t width = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string item = quoted(items[i]);
        if (i > 0) {
            out += ",";
            if (width + item.size() > 90) {
                out += std::string("\n") + indent;
                width = 0;
            } else {
                out += " ";
            }
        }
        out += item;
        width += item.size() + 2;
    }
    return out + " ]";
}

// A route's retry schedule within the loader's bounds: hMailServer's tries count the first
// delivery, route-milter's retries do not.
long long imported_retries(const HmsRoute& r) {
    return std::clamp(r.number_of_tries - 1, route_retries_bounds.min, route_retries_bounds.max);
}
long long imported_retry_minutes(const HmsRoute& r) {
    return std::clamp(r.minutes_between_try, route_retry_minutes_bounds.min, route_retry_minutes_bounds.max);
}

// "YYYY-MM-DD HH:MM:SS" (Time::GetTimeStampFromDateTime), taken as UTC, in route-milter's
// spelling "YYYY-MM-DDTHH:MM:SSZ" (utc_time.hpp), or "" when it has not that shape.
std::string utc_spelling(std::string_view t) {
    if (t.size() != 19 || t[10] != ' ') return {};
    return std::string(t.substr(0, 10)) + "T" + std::string(t.substr(11)) + "Z";
}

class Importer {
public:
    Importer(const HmsBackup& backup, const ImportOptions& options) : backup_(backup), options_(options) {}
    ImportResult run();

private:
    struct RouteOut {
        const HmsRoute* from = nullptr;
        std::string domain;  // lower case, as written
        RoutePattern pattern;
        std::vector<std::string> hosts;
        std::vector<std::string> comments;
        std::vector<std::string> addresses;
        std::vector<std::string> unused_addresses;  // listed, while the route delivers to all
        std::vector<std::string> before_use;        // what to change before uncommenting it
        std::optional<std::string> password;
        std::string commented;  // why it is written commented out; "" for a live route
        bool etrn = false;
        bool filtered = false;  // its addresses were read while it was live
        bool live() const { return commented.empty(); }
    };

    void note(std::string subject, const std::string& text, std::vector<std::string>* comments = nullptr) {
        result_.notes.push_back(subject + ": " + text);
        if (comments != nullptr) comments->push_back(text);
    }
    void error(const std::string& subject, const std::string& text) { result_.errors.push_back(subject + ": " + text); }
    // What keeps a route from being written as it was: an error for a live route; for one
    // written commented out, a note and a comment to act on before uncommenting it.
    void problem(RouteOut& out, const std::string& text) {
        if (out.live()) return error(route_subject(*out.from), text);
        out.before_use.push_back(text);
        note(route_subject(*out.from), "before uncommenting: " + text);
    }

    static std::string route_subject(const HmsRoute& r) { return "route \"" + shown(r.name) + "\""; }
    static std::string range_subject(const std::string& name) { return "range \"" + shown(name) + "\""; }

    void read_domains();
    void read_ranges();
    void read_routes();
    bool map_route(RouteOut& out);
    void filter_addresses(RouteOut& out);
    void index_routes();
    const RouteOut* owner_of(std::string_view domain) const;
    const RouteOut* same_domain(const RoutePattern& p) const;
    void check_uncommenting(RouteOut& out);
    std::string render_route(const RouteOut& out);
    void render();

    const HmsBackup& backup_;
    const ImportOptions& options_;
    ImportResult result_;
    std::vector<std::string> local_domains_;  // as written (lower case)
    std::set<std::string, std::less<>> local_canonical_;
    std::string ranges_text_, routes_text_, domains_comment_;
    std::vector<RouteOut> routes_;
    StringIndex exact_routes_, wildcard_routes_;  // routes_ by pattern text, by wildcard suffix
    std::optional<std::uint32_t> catch_all_route_;
    // The addresses live "*" and "*.x" routes list, by canonical domain: what a route written
    // commented out would take from them.
    std::multimap<std::string, std::pair<const RouteOut*, std::string>, std::less<>> wildcard_listed_;
    std::vector<std::string> commented_out_;  // "route \"NAME\": why", for the header
};

void Importer::read_domains() {
    std::set<std::string, std::less<>> seen;
    const auto add = [&](const std::string& name, const std::string& subject) {
        std::string canonical;
        std::string lower = ascii_lower(trimmed(name));
        if (std::string spelled = canonical_spelling(lower); !spelled.empty()) {
            note(subject, respelled_note(lower, spelled));
            lower = std::move(spelled);
        }
        if (canonical_domain(lower, canonical) != DomainStatus::ok || !is_host_name(canonical)) {
            error(subject, "not a domain name (\"" + shown(name) + "\")");
            return;
        }
        if (!seen.insert(canonical).second) return;
        local_domains_.push_back(lower);
        local_canonical_.insert(canonical);
    };
    for (const HmsDomain& d : backup_.domains) {
        const std::string subject = "domain \"" + shown(d.name) + "\"";
        if (!d.active) {
            std::string aliases;
            for (const std::string& a : d.aliases) aliases += (aliases.empty() ? "" : ", ") + shown(a);
            note(subject, "inactive: hMailServer refuses its recipients (550 Domain has been disabled.); not a local "
                          "domain here, so its mail is judged as external" +
                              (aliases.empty() ? std::string() : " (aliases " + aliases + " too)"));
            continue;
        }
        add(d.name, subject);
        for (const std::string& a : d.aliases) add(a, subject + " alias \"" + shown(a) + "\"");
    }
    result_.local_domains = local_domains_.size();
}

void Importer::read_ranges() {
    struct Placed {
        std::string name;
        long long priority;
        std::optional<IpInterval> interval;
    };
    std::vector<Placed> placed;
    std::set<std::string, std::less<>> names;
    bool any_v6 = false;
    if (backup_.security_ranges.empty())
        note("ip_ranges", "the backup has no IP ranges: hMailServer accepts no SMTP client; imported as an empty list "
                          "(every recipient refused with 550 5.7.1)");
    for (const HmsSecurityRange& r : backup_.security_ranges) {
        std::vector<std::string> comments;
        // The name is in log lines (range=...): a control character in it would break one.
        const std::string base = without_controls(r.name);
        if (base != r.name) note(range_subject(r.name), "control characters in the name replaced by blanks", &comments);
        std::string name = base;
        if (name.empty() || name == "none") {
            name = (name.empty() ? "unnamed" : "none") + std::string(" (hMailServer XML line ") + std::to_string(r.line) + ")";
            note(range_subject(r.name), "renamed \"" + name + "\" (route-milter's range names are non-empty, not \"none\")",
                 &comments);
        }
        for (int n = 2; !names.insert(name).second; ++n) {
            const std::string renamed = base + " (" + std::to_string(n) + ")";
            if (names.count(renamed) != 0) continue;
            name = renamed;
            names.insert(name);
            note(range_subject(r.name), "a second range of that name: renamed \"" + shown(name) + "\"", &comments);
            break;
        }
        const std::string subject = range_subject(name);
        const SettingBounds bounds = range_priority_bounds;
        const long long priority = std::clamp(r.priority, bounds.min, bounds.max);
        if (priority != r.priority)
            note(subject, "priority " + std::to_string(r.priority) + " outside " + std::to_string(bounds.min) + ".." +
                              std::to_string(bounds.max) + ": imported as " + std::to_string(priority),
                 &comments);
        std::optional<IpInterval> interval;
        auto made = make_interval(trimmed(r.lower_ip), trimmed(r.upper_ip));
        if (auto* bad = std::get_if<std::string>(&made)) error(subject, "LowerIP/UpperIP: " + *bad);
        else interval = std::get<IpInterval>(made);
        if (interval && interval->lower.family == IpFamily::v6) any_v6 = true;

        std::vector<std::string> allow, require_auth;
        const bool smtp = (r.options & option_smtp) != 0;
        for (const ClassBits& b : class_bits) {
            if (smtp && (r.options & b.allow) != 0) allow.emplace_back(name_of(b.cls));
            if ((r.options & b.auth) != 0) require_auth.emplace_back(name_of(b.cls));
        }
        if ((r.options & option_require_tls_for_auth) != 0)
            note(subject, "require TLS for auth: hMailServer refuses the AUTH command itself without TLS; route-milter "
                          "refuses the recipients of a session authenticated without TLS (530 5.7.0); Postfix's "
                          "smtpd_tls_auth_only = yes refuses that AUTH as hMailServer does",
                 &comments);
        if (!smtp)
            note(subject, "no SMTP option: hMailServer drops its clients without a greeting; imported with allow = [ ], "
                          "so every recipient of theirs is refused (550 5.7.1), after Postfix's greeting",
                 &comments);
        std::string expires;
        if (r.expires) {
            const std::string spelled = utc_spelling(r.expires_time);
            const std::optional<std::int64_t> at = parse_utc_timestamp(spelled);
            if (!at) {
                error(subject, "Expires=1 but ExpiresTime is not \"YYYY-MM-DD HH:MM:SS\" from 1970 on (\"" + shown(r.expires_time) + "\")");
            } else {
                expires = spelled;
                if (*at <= options_.now)
                    note(subject, "expired at " + r.expires_time +
                                      " (hMailServer removes expired ranges): imported with expires, so it matches no "
                                      "client; delete it",
                         &comments);
                else
                    note(subject, "expires at " + r.expires_time +
                                      ", hMailServer's local time, written as UTC: correct expires if that server did "
                                      "not run on UTC",
                         &comments);
            }
        }
        placed.push_back({name, priority, interval});

        std::string& t = ranges_text_;
        t += t.empty() ? "  " : ",\n  ";
        t += "# hMailServer range \"" + shown(r.name) + "\" (Options " + std::to_string(r.options) + ")\n";
        for (const std::string& c : comments) t += "  # " + shown(c) + "\n";
        t += "  { name = " + quoted(name) + ";\n";
        t += "    lower = " + quoted(trimmed(r.lower_ip)) + "; upper = " + quoted(trimmed(r.upper_ip)) + ";\n";
        t += "    priority = " + std::to_string(priority) + ";\n";
        t += "    allow = " + string_list(allow, "              ") + ";\n";
        t += "    require_auth = " + string_list(require_auth, "                     ") + ";";
        if ((r.options & option_require_tls_for_auth) != 0) t += "\n    require_tls_for_auth = true;";
        if (!expires.empty()) t += "\n    expires = " + quoted(expires) + ";";
        t += " }";
    }
    // Overlaps at equal priority, in one sweep over the ranges sorted by priority and lower
    // bound: a range overlaps one before it exactly when it starts within the one that reaches
    // furthest. Each such range is named once, with that one.
    std::vector<std::size_t> by_start;
    for (std::size_t i = 0; i < placed.size(); ++i)
        if (placed[i].interval) by_start.push_back(i);
    std::sort(by_start.begin(), by_start.end(), [&](std::size_t a, std::size_t b) {
        return std::tie(placed[a].priority, placed[a].interval->lower, a) <
               std::tie(placed[b].priority, placed[b].interval->lower, b);
    });
    std::optional<std::size_t> reach;  // of the ranges before, at this priority, the one reaching furthest
    for (const std::size_t i : by_start) {
        const Placed& r = placed[i];
        if (reach && (placed[*reach].priority != r.priority ||
                      placed[*reach].interval->lower.family != r.interval->lower.family))
            reach.reset();
        if (reach && r.interval->lower <= placed[*reach].interval->upper) {
            const auto [first, second] = std::minmax(*reach, i);
            error(range_subject(placed[second].name),
                  "overlaps range \"" + shown(placed[first].name) + "\" at equal priority " + std::to_string(r.priority) +
                      ": which one hMailServer applies is not defined (database order); give one of them a "
                      "higher priority in hMailServer and make the backup again");
        }
        if (!reach || placed[*reach].interval->upper < r.interval->upper) reach = i;
    }
    if (!backup_.security_ranges.empty() && !any_v6)
        note("ip_ranges", "no range covers IPv6: hMailServer drops IPv6 clients; route-milter refuses their "
                          "recipients (550 5.7.1)");
    result_.ranges = placed.size();
}

// The imported routes by pattern, the first of each: what owner_of looks up.
void Importer::index_routes() {
    for (std::uint32_t i = 0; i < routes_.size(); ++i) {
        const RoutePattern& p = routes_[i].pattern;
        if (!routes_[i].live()) continue;
        if (p.is_catch_all() && !catch_all_route_) catch_all_route_ = i;
        else if (p.is_exact()) exact_routes_.insert(p.text(), i);
        else if (p.is_wildcard()) wildcard_routes_.insert(p.suffix(), i);
    }
}

// The imported route route-milter picks for `domain` (canonical): exact, longest wildcard, "*"
// (RoutePattern's specificity), found by a lookup per label.
const Importer::RouteOut* Importer::owner_of(std::string_view domain) const {
    if (const std::uint32_t* exact = exact_routes_.find(domain)) return &routes_[*exact];
    const std::uint32_t* wildcard = nullptr;
    for_each_wildcard_suffix(domain, [&](std::string_view suffix) {
        wildcard = wildcard_routes_.find(suffix);
        return wildcard == nullptr;
    });
    if (wildcard != nullptr) return &routes_[*wildcard];
    return catch_all_route_ ? &routes_[*catch_all_route_] : nullptr;
}

bool Importer::map_route(RouteOut& out) {
    const HmsRoute& r = *out.from;
    const std::string subject = route_subject(r);
    const std::size_t errors_before = result_.errors.size();
    // Hosts: "a|b" tried in order; a bare IP becomes "[ip]" (route-milter's literal).
    std::string host_text = r.target_host;
    std::size_t start = 0;
    while (start <= host_text.size()) {
        const std::size_t bar = std::min(host_text.find('|', start), host_text.size());
        std::string part = ascii_lower(trimmed(std::string_view(host_text).substr(start, bar - start)));
        start = bar + 1;
        if (part.empty()) continue;
        if (std::string spelled = canonical_spelling(part); !spelled.empty()) {
            note(subject, "TargetHost " + respelled_note(part, spelled), &out.comments);
            part = std::move(spelled);
        }
        std::string canonical;
        std::string inner = part.size() > 2 && part.front() == '[' && part.back() == ']' ? part.substr(1, part.size() - 2) : part;
        if (parse_ip_address(inner)) out.hosts.push_back("[" + inner + "]");
        else if (canonical_domain(part, canonical) == DomainStatus::ok && is_host_name(canonical)) out.hosts.push_back(part);
        else problem(out, "TargetHost: not a host name or IP address (\"" + shown(part) + "\")");
    }
    if (const SettingBounds port = route_port_bounds; !out.hosts.empty() && (r.target_port < port.min || r.target_port > port.max))
        problem(out, "TargetPort out of " + std::to_string(port.min) + ".." + std::to_string(port.max) + " (" +
                           std::to_string(r.target_port) + ")");
    if (!r.use_ssl && (r.connection_security < 0 || r.connection_security > 3))
        problem(out, "ConnectionSecurity is not 0..3 (" + std::to_string(r.connection_security) + ")" +
                         (out.live() ? "" : ": written without security"));
    if (r.requires_authentication) {
        if (out.hosts.empty()) {
            note(subject, "RequiresAuthentication without TargetHost: hMailServer delivers by MX lookup and never uses "
                          "the credentials; imported without auth",
                 &out.comments);
        } else if (trimmed(r.username).empty()) {
            note(subject, "RequiresAuthentication with an empty Username: imported without auth", &out.comments);
        } else {
            PasswordResult p = decrypt_password(trimmed(r.encrypted_password));
            if (!p.password) problem(out, "Password: " + p.error + (out.live() ? "" : ": written without auth"));
            else out.password = std::move(p.password);
        }
    }
    if (find_control(r.description))
        note(subject, "control characters in the description replaced by blanks", &out.comments);
    // hMailServer holds the mail of a route whose description starts with "ETRN" (any case).
    if (ascii_lower(std::string_view(r.description).substr(0, 4)) == "etrn") {
        if (out.pattern.is_exact())
            out.etrn = true;
        else
            note(subject, "ETRN description on a wildcard route: hMailServer holds its mail, and no ETRN can release "
                          "it (ETRN must name the route literally); route-milter's etrn takes exact domains only, so "
                          "its mail is delivered at once",
                 &out.comments);
    }
    if (const long long retries = imported_retries(r); retries != r.number_of_tries - 1)
        note(subject, "NumberOfTries " + std::to_string(r.number_of_tries) + ": imported as retries = " +
                          std::to_string(retries),
             &out.comments);
    if (const long long minutes = imported_retry_minutes(r); minutes != r.minutes_between_try)
        note(subject, "MinutesBetweenTry " + std::to_string(r.minutes_between_try) + ": imported as retry_minutes = " +
                          std::to_string(minutes),
             &out.comments);
    return result_.errors.size() == errors_before;
}

// The live route that has `p`'s very domain, if any.
const Importer::RouteOut* Importer::same_domain(const RoutePattern& p) const {
    const std::uint32_t* at = nullptr;
    if (p.is_exact()) at = exact_routes_.find(p.text());
    else if (p.is_wildcard()) at = wildcard_routes_.find(p.suffix());
    else if (p.is_catch_all() && catch_all_route_) at = &*catch_all_route_;
    return at != nullptr ? &routes_[*at] : nullptr;
}

// A route's listed addresses, each kept or noted with why not. A live route keeps those
// hMailServer matched under it; one written commented out those it would take once uncommented.
void Importer::filter_addresses(RouteOut& out) {
    const HmsRoute& r = *out.from;
    const std::string subject = route_subject(r);
    if (r.to_all_addresses) {
        if (!r.addresses.empty()) {
            note(subject, std::to_string(r.addresses.size()) +
                              " listed address(es) ignored: the route delivers to all addresses (as in hMailServer); "
                              "they are written in a comment in it",
                 &out.comments);
            for (const std::string& a : r.addresses) out.unused_addresses.push_back(trimmed(a));
        }
        return;
    }
    std::set<std::string, std::less<>> seen;
    NormalizedAddress parsed;
    for (const std::string& raw : r.addresses) {
        std::string text = trimmed(raw);
        const std::string who = "listed address \"" + shown(text) + "\"";
        if (const std::size_t at = text.rfind('@'); at != std::string::npos) {
            if (const std::string spelled = canonical_spelling(ascii_lower(text.substr(at + 1))); !spelled.empty()) {
                note(subject, who + ": domain " + respelled_note(text.substr(at + 1), spelled), &out.comments);
                text = text.substr(0, at + 1) + spelled;
            }
        }
        if (parse_address(text, parsed) != AddressStatus::ok || !parsed.has_domain() || parsed.local().empty()) {
            note(subject, who + " is not an address: dropped", &out.comments);
            continue;
        }
        if (!seen.insert(std::string(parsed.text())).second) {
            note(subject, who + " is listed twice (hMailServer compares addresses without regard to case): written once",
                 &out.comments);
            continue;
        }
        const std::string_view domain = parsed.domain();
        const RouteOut* owner = owner_of(domain);
        if (!out.pattern.empty() && !out.pattern.matches(domain)) {
            note(subject, who + " is outside the route's domain, so hMailServer never matched it here: dropped",
                 &out.comments);
        } else if (!out.pattern.empty() && !out.pattern.is_exact() && local_canonical_.count(domain) != 0) {
            note(subject, who + " is in a local domain, which hMailServer serves before any route: dropped",
                 &out.comments);
        } else if (out.live() && owner != &out) {
            note(subject, who + " belongs to route \"" + shown(owner->from->name) +
                              "\", which comes first for its domain in hMailServer too: dropped",
                 &out.comments);
        } else if (!out.live() && owner != nullptr && owner->live() && owner->pattern.specificity() > out.pattern.specificity()) {
            note(subject, who + " belongs to route \"" + shown(owner->from->name) +
                              "\", which route-milter prefers for its domain: dropped",
                 &out.comments);
        } else {
            out.addresses.push_back(ascii_lower(text));
            if (out.live() && !out.pattern.is_exact())
                wildcard_listed_.emplace(std::string(domain), std::pair{&out, out.addresses.back()});
        }
    }
}

// What keeps a route written commented out from checking once uncommented: a live route of the
// same domain, and the addresses a less specific live route lists that it would take.
void Importer::check_uncommenting(RouteOut& out) {
    if (out.pattern.empty()) return;
    if (const RouteOut* same = same_domain(out.pattern); same != nullptr && same != &out && same->live()) {
        problem(out, "route \"" + shown(same->from->name) + "\" has the same domain, and route-milter takes one route per "
                     "domain: comment that one out first");
        return;
    }
    if (out.pattern.is_exact() && local_canonical_.count(out.pattern.text()) != 0)
        note(route_subject(*out.from), "its domain is one of this server's domains: route-milter judges every recipient of "
                                       "a local domain as local, never by the route",
             &out.comments);
    std::string taken;
    const auto take = [&](const std::string& domain, const std::pair<const RouteOut*, std::string>& listed) {
        const RouteOut& live = *listed.first;
        if (live.live() && live.pattern.specificity() < out.pattern.specificity() && out.pattern.matches(domain))
            taken += " " + listed.second + " (route \"" + shown(live.from->name) + "\")";
    };
    if (out.pattern.is_exact()) {
        const auto [first, last] = wildcard_listed_.equal_range(out.pattern.text());
        for (auto it = first; it != last; ++it) take(it->first, it->second);
    } else {
        for (const auto& [domain, listed] : wildcard_listed_) take(domain, listed);
    }
    if (!taken.empty())
        problem(out, "it takes the domains of addresses another route lists; remove them there:" + taken);
}

void Importer::read_routes() {
    // hMailServer's order: `order by routedomainname asc`, first wildcard match wins.
    std::vector<std::size_t> order(backup_.routes.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::vector<std::string> lower(backup_.routes.size());
    std::vector<std::string> respelled_from(backup_.routes.size());  // the name as written, where respelled
    for (std::size_t i = 0; i < lower.size(); ++i) {
        lower[i] = ascii_lower(trimmed(backup_.routes[i].name));
        const bool wildcard = lower[i].starts_with("*.");
        if (std::string spelled = canonical_spelling(std::string_view(lower[i]).substr(wildcard ? 2 : 0)); !spelled.empty()) {
            respelled_from[i] = std::move(lower[i]);
            lower[i] = (wildcard ? "*." : "") + spelled;
        }
    }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return lower[a] < lower[b]; });

    CoveringNames earlier;  // the names already seen, by their place in hMailServer's order
    for (std::uint32_t place = 0; place < order.size(); ++place) {
        const std::size_t i = order[place];
        const HmsRoute& r = backup_.routes[i];
        const std::string subject = route_subject(r);
        const std::string& name = lower[i];
        RouteOut out;
        out.from = &r;
        out.domain = name;
        std::optional<std::uint32_t> shadow;
        if (!name.empty()) {
            shadow = earlier.first_covering(name);
            earlier.add(name, place);
        }
        const bool plain_wildcard = name == "*" || (name.starts_with("*.") && name.find_first_of("*?", 1) == std::string::npos);
        const bool expressible = !name.empty() && name.find('?') == std::string::npos &&
                                 (name.find('*') == std::string::npos || plain_wildcard);
        if (name.empty()) {
            out.commented = "no domain name: hMailServer matches no domain with it";
        } else if (shadow) {
            const std::string& first = lower[order[*shadow]];
            out.commented = "never reached in hMailServer: route \"" + shown(backup_.routes[order[*shadow]].name) +
                            "\" comes first alphabetically and matches every domain" +
                            (first == "*" ? "" : " this one matches") +
                            "; route-milter would prefer the more specific route, so it stays commented out to keep "
                            "hMailServer's decisions";
        } else if (!expressible) {
            out.commented = "route-milter's route domains are \"example.com\", \"*.example.com\" or \"*\"; the domains "
                            "this pattern matched now take the route-milter route that matches them, or none";
        }
        if (!out.live()) {
            note(subject, "written commented out: " + out.commented);
            commented_out_.push_back(subject + ": " + out.commented);
            ++result_.routes_commented_out;
        }
        if (!respelled_from[i].empty()) note(subject, "name " + respelled_note(respelled_from[i], name), &out.comments);
        if (name.empty()) {
            problem(out, "domain: give it the domain it should take");
        } else if (!expressible) {
            problem(out, "domain: give it one route-milter takes, \"example.com\", \"*.example.com\" or \"*\" (\"" +
                             shown(name) + "\")");
        } else {
            auto parsed = RoutePattern::parse(name);
            if (auto* why = std::get_if<std::string>(&parsed)) {
                if (out.live()) {
                    error(subject, "domain: " + *why);
                    continue;
                }
                problem(out, "domain: " + *why);
            } else {
                out.pattern = std::get<RoutePattern>(std::move(parsed));
            }
        }
        if (!map_route(out)) continue;
        if (out.live() && out.pattern.is_exact() && local_canonical_.count(out.pattern.text()) != 0)
            note(subject, "its domain is one of this server's domains: hMailServer delivers the accounts it has there "
                          "itself and routes only the other recipients; route-milter judges every recipient of a local "
                          "domain as local (never by the route), and routectl postfix sends all of the domain's mail "
                          "to the route's hosts: remove the route or the domain from local_domains",
                 &out.comments);
        routes_.push_back(std::move(out));
    }
    index_routes();
    for (RouteOut& out : routes_)
        if (out.live()) filter_addresses(out);
    for (RouteOut& out : routes_)
        if (out.live() && !out.from->to_all_addresses && out.addresses.empty()) {
            out.commented = "it delivers to listed addresses only and lists none here, so hMailServer refused every "
                            "recipient of it (550 Recipient not in route list.); route-milter cannot say that, and these "
                            "recipients are now judged without a route";
            note(route_subject(*out.from), "written commented out: " + out.commented);
            commented_out_.push_back(route_subject(*out.from) + ": " + out.commented);
            ++result_.routes_commented_out;
            problem(out, "list the addresses it should take, or set deliver_to = \"all\"");
            out.filtered = true;
        }
    for (RouteOut& out : routes_)
        if (!out.live()) {
            if (!out.filtered) filter_addresses(out);
            check_uncommenting(out);
        }
}

// One route's lines, each indented by two blanks and ended by a newline, its comments first.
std::string Importer::render_route(const RouteOut& out) {
    static constexpr std::array<const char*, 4> security{"none", "tls", "starttls", "starttls-required"};
    const HmsRoute& r = *out.from;
    std::string t;
    for (const std::string& b : out.before_use) t += comment_lines("  ", "before uncommenting: " + b);
    for (const std::string& c : out.comments) t += comment_lines("  ", c);
    t += "  { domain = " + quoted(out.domain) + ";\n";
    if (!r.description.empty())
        t += "    description = " + wrapped_string(without_controls(r.description), "      ") + ";\n";
    if (out.etrn) t += "    etrn = true;  # the description starts with ETRN: mail waits for ETRN <domain>\n";
    if (out.hosts.size() == 1) t += "    host = " + quoted(out.hosts[0]) + ";\n";
    else if (out.hosts.size() > 1) t += "    host = " + string_list(out.hosts, "             ") + ";  # tried in this order\n";
    else t += "    # no TargetHost: MX lookup\n";
    if (!out.hosts.empty()) {
        t += "    port = " + std::to_string(r.target_port) + ";\n";
        const long long s = r.use_ssl ? 1 : r.connection_security;
        // hMailServer's "none" is left unset: the MTA's own level (opportunistic TLS on Debian)
        // applies, and a route with AUTH requires TLS, so no password goes in clear.
        if (s == 0)
            t += "    # security: hMailServer said \"none\"; unset, the MTA's own TLS level applies (TLS is required "
                 "for AUTH)\n";
        else if (s > 0 && s <= 3)
            t += "    security = \"" + std::string(security[static_cast<std::size_t>(s)]) + "\";\n";
    }
    t += "    treat_sender_as = \"" + std::string(r.treat_sender_as_local ? "local" : "external") + "\";\n";
    t += "    treat_recipient_as = \"" + std::string(r.treat_recipient_as_local ? "local" : "external") + "\";\n";
    if (r.to_all_addresses) {
        t += "    deliver_to = \"all\";\n";
        if (!out.unused_addresses.empty()) {
            std::string listed;
            for (const std::string& a : out.unused_addresses) listed += " " + a;
            t += comment_lines("    ", "hMailServer's address list for it, unused while it delivers to all:" + listed);
        }
    } else {
        t += "    deliver_to = \"listed\";\n";
        t += "    addresses = " + string_list(out.addresses, "                  ") + ";\n";
    }
    t += "    retries = " + std::to_string(imported_retries(r)) +
         "; retry_minutes = " + std::to_string(imported_retry_minutes(r)) + ";";
    if (out.password) t += "\n    auth = { user = " + quoted(trimmed(r.username)) + "; password = " + quoted(*out.password) + "; };";
    return t + " }\n";
}

void Importer::render() {
    for (const RouteOut& out : routes_) {
        if (!out.live()) continue;
        std::string& t = routes_text_;
        t += t.empty() ? "" : ",\n";
        t += comment_lines("  ", "hMailServer route \"" + out.from->name + "\"");
        std::string body = render_route(out);
        body.pop_back();
        t += body;
        ++result_.routes;
        if (!out.from->to_all_addresses) result_.listed_addresses += out.addresses.size();
        if (out.password) result_.routes_with_passwords.push_back(shown(out.from->name));
    }
    bool first = result_.routes == 0;
    for (const RouteOut& out : routes_) {
        if (out.live()) continue;
        std::string& t = routes_text_;
        t += "\n\n" + comment_lines("  ", "hMailServer route \"" + out.from->name + "\", written commented out: " + out.commented);
        if (!first) t += "#|   ,\n";
        first = false;
        const std::string body = render_route(out);
        for (std::size_t at = 0; at < body.size();) {
            const std::size_t end = body.find('\n', at);
            t += "#| " + body.substr(at, end - at) + "\n";
            at = end + 1;
        }
        if (out.password) result_.routes_with_passwords.push_back(shown(out.from->name));
    }
    if (!routes_text_.empty() && routes_text_.back() == '\n') routes_text_.pop_back();
}

ImportResult Importer::run() {
    read_domains();
    read_ranges();
    read_routes();
    render();
    std::string& c = result_.config_text;
    c += "# route-milter.conf - imported from the hMailServer backup " + shown(options_.source) +
         (backup_.version.empty() ? std::string() : " (hMailServer " + shown(backup_.version) + ")") + "\n";
    c += "# by `routectl import-hmailserver`. See route-milter.conf(5); check with `routectl check -c FILE`.\n"
         "#\n"
         "# Every recipient is judged as hMailServer judged it: this server's domains, its IP ranges\n"
         "# (highest priority wins) and its routes (listed addresses first, then the range's delivery\n"
         "# class, then SMTP AUTH). What route-milter cannot say the same way is noted in a comment\n"
         "# beside it, and was reported when the file was written. The milter settings are the defaults.\n\n";
    c += "# hMailServer applies its IP ranges to every recipient, not only to routed domains.\n";
    c += "scope = \"all\";\n\n";
    c += "# hMailServer's active domains and their aliases.\n";
    c += "local_domains = " + string_list(local_domains_, "  ") + ";\n\n";
    c += "# hMailServer's IP ranges. Options bits: allow local-local 64, local-external 128,\n"
         "# external-local 256, external-external 512; SMTP AUTH for them 8192, 16384, 32768, 65536.\n";
    c += "ip_ranges = (\n" + ranges_text_ + (ranges_text_.empty() ? "" : "\n") + ");\n\n";
    c += "# hMailServer's routes. Number of tries N = 1 delivery + (N - 1) retries.\n";
    if (!commented_out_.empty()) {
        c += "# Written commented out, whole, after the live routes (lines starting with \"#| \"): to use one,\n"
             "# delete the \"#| \" from each of its lines (its first, a lone comma, joins it to the route before\n"
             "# it: leave that line out where no live route comes before), after the changes its \"before\n"
             "# uncommenting\" comments name. The routes:\n";
        for (const std::string& n : commented_out_) c += comment_lines("", "- " + n, "  ");
    }
    c += "routes = (\n" + routes_text_ + (routes_text_.empty() ? "" : "\n") + ");\n";
    return std::move(result_);
}

}  // namespace

ImportResult import_backup(const HmsBackup& backup, const ImportOptions& options) {
    return Importer(backup, options).run();
}

}  // namespace route_milter::hmailserver
