// route_list_scan.cpp - find the route groups in a config text (see route_list_scan.hpp).
#include "route_milter/config/route_list_scan.hpp"

#include <algorithm>

namespace route_milter {

namespace {

bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '*'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '_'; }

// libconfig's lexical structure, as far as finding brackets needs it. The same rules as
// config_source's @include expander: strings with \\ and \" escapes, three kinds of comment.
class Scanner {
public:
    explicit Scanner(std::string_view text) : t_(text) {}

    std::size_t pos = 0;
    unsigned line = 1;

    bool at_end() const { return pos >= t_.size(); }
    char peek() const { return pos < t_.size() ? t_[pos] : '\0'; }

    // Skips blanks and comments; false when a /* comment */ is never closed.
    bool skip_blank() {
        while (pos < t_.size()) {
            const char c = t_[pos];
            const char next = pos + 1 < t_.size() ? t_[pos + 1] : '\0';
            if (c == '\n') {
                ++line;
                ++pos;
            } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
                ++pos;
            } else if (c == '#' || (c == '/' && next == '/')) {
                const std::size_t nl = t_.find('\n', pos);
                pos = nl == std::string_view::npos ? t_.size() : nl;
            } else if (c == '/' && next == '*') {
                const std::size_t close = t_.find("*/", pos + 2);
                if (close == std::string_view::npos) return false;
                line += static_cast<unsigned>(std::count(t_.begin() + static_cast<std::ptrdiff_t>(pos),
                                                         t_.begin() + static_cast<std::ptrdiff_t>(close), '\n'));
                pos = close + 2;
            } else {
                return true;
            }
        }
        return true;
    }

    // At a '"': past the string's closing quote; false when it is never closed.
    bool skip_string() {
        for (++pos; pos < t_.size(); ++pos) {
            const char c = t_[pos];
            const char next = pos + 1 < t_.size() ? t_[pos + 1] : '\0';
            if (c == '\\' && (next == '\\' || next == '"')) ++pos;
            else if (c == '"') {
                ++pos;
                return true;
            } else if (c == '\n') {
                ++line;
            }
        }
        return false;
    }

    std::string_view name() {
        const std::size_t from = pos;
        while (pos < t_.size() && name_char(t_[pos])) ++pos;
        return t_.substr(from, pos - from);
    }

    // At an opening bracket: past the bracket that closes it; false when the brackets do not
    // pair up (libconfig will say where).
    bool skip_nested() {
        std::vector<char> open;
        do {
            if (!skip_blank()) return false;
            if (at_end()) return false;
            const char c = t_[pos];
            if (c == '"') {
                if (!skip_string()) return false;
                continue;
            }
            if (c == '{' || c == '(' || c == '[') {
                open.push_back(c == '{' ? '}' : c == '(' ? ')' : ']');
            } else if (c == '}' || c == ')' || c == ']') {
                if (open.empty() || open.back() != c) return false;
                open.pop_back();
            }
            ++pos;
        } while (!open.empty());
        return true;
    }

private:
    std::string_view t_;
};

}  // namespace

std::optional<RouteListLayout> scan_route_list(std::string_view text) {
    Scanner s(text);
    // The root's settings: find `routes` at depth 0, followed by '=' or ':' and '('.
    int depth = 0;
    for (;;) {
        if (!s.skip_blank()) return std::nullopt;
        if (s.at_end()) return std::nullopt;
        const char c = s.peek();
        if (c == '"') {
            if (!s.skip_string()) return std::nullopt;
            continue;
        }
        if (name_start(c)) {
            const std::string_view name = s.name();
            if (depth != 0 || name != "routes") continue;
            if (!s.skip_blank()) return std::nullopt;
            if (s.peek() != '=' && s.peek() != ':') continue;
            ++s.pos;
            if (!s.skip_blank()) return std::nullopt;
            if (s.peek() != '(') return std::nullopt;  // not a list: libconfig and the loader say so
            ++s.pos;
            break;
        }
        if (c == '{' || c == '(' || c == '[') ++depth;
        if (c == '}' || c == ')' || c == ']') {
            if (--depth < 0) return std::nullopt;
        }
        ++s.pos;
    }
    // Its elements: groups separated by ',' and closed by ')'.
    RouteListLayout layout;
    for (;;) {
        if (!s.skip_blank()) return std::nullopt;
        if (s.peek() != '{') return std::nullopt;  // an empty list, or an element that is no group
        RouteListElement element;
        element.begin = s.pos;
        element.line = s.line;
        if (!s.skip_nested()) return std::nullopt;
        element.end = s.pos;
        layout.elements.push_back(element);
        if (!s.skip_blank()) return std::nullopt;
        if (s.peek() == ')') return layout;
        if (s.peek() != ',') return std::nullopt;
        ++s.pos;
    }
}

}  // namespace route_milter
