// prometheus_text.cpp - label escaping and a reader for the text exposition format.
#include "route_milter/common/prometheus_text.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>

namespace route_milter {

void append_label_value(std::string& out, std::string_view value) {
    for (const char c : value) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case '"': out += "\\\""; break;
        case '\n': out += "\\n"; break;
        default: out += c;
        }
    }
}

std::string_view Sample::label(std::string_view key) const {
    for (const auto& [k, v] : labels)
        if (k == key) return v;
    return {};
}

namespace {

bool name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

std::string_view take_name(std::string_view& rest) {
    if (rest.empty() || !name_start(rest[0])) return {};
    std::size_t n = 1;
    while (n < rest.size() && name_char(rest[n])) ++n;
    const std::string_view name = rest.substr(0, n);
    rest.remove_prefix(n);
    return name;
}

void skip_blanks(std::string_view& rest) {
    while (!rest.empty() && (rest[0] == ' ' || rest[0] == '\t')) rest.remove_prefix(1);
}

std::variant<double, std::string> parse_value(std::string_view text) {
    if (text == "+Inf" || text == "Inf") return std::numeric_limits<double>::infinity();
    if (text == "-Inf") return -std::numeric_limits<double>::infinity();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    const std::string copy(text);
    char* end = nullptr;
    const double v = std::strtod(copy.c_str(), &end);
    if (copy.empty() || end != copy.c_str() + copy.size() || std::isnan(v) || std::isinf(v))
        return "not a number (\"" + copy + "\")";
    return v;
}

// One sample line into `out`; the reason otherwise.
std::string parse_sample(std::string_view rest, Sample& out) {
    const std::string_view name = take_name(rest);
    if (name.empty()) return "expected a metric name";
    out.name = std::string(name);
    if (!rest.empty() && rest[0] == '{') {
        rest.remove_prefix(1);
        for (;;) {
            skip_blanks(rest);
            if (!rest.empty() && rest[0] == '}') {
                rest.remove_prefix(1);
                break;
            }
            const std::string_view key = take_name(rest);
            if (key.empty()) return "expected a label name";
            skip_blanks(rest);
            if (rest.size() < 2 || rest[0] != '=' || rest[1] != '"') return "expected =\" after label " + std::string(key);
            rest.remove_prefix(2);
            std::string value;
            bool closed = false;
            while (!rest.empty()) {
                const char c = rest[0];
                rest.remove_prefix(1);
                if (c == '"') {
                    closed = true;
                    break;
                }
                if (c != '\\') {
                    value += c;
                    continue;
                }
                if (rest.empty()) break;
                const char e = rest[0];
                rest.remove_prefix(1);
                if (e == '\\' || e == '"') value += e;
                else if (e == 'n') value += '\n';
                else return std::string("unknown escape \\") + e + " in label " + std::string(key);
            }
            if (!closed) return "unterminated value of label " + std::string(key);
            out.labels.emplace_back(std::string(key), std::move(value));
            skip_blanks(rest);
            if (!rest.empty() && rest[0] == ',') rest.remove_prefix(1);
            else if (rest.empty() || rest[0] != '}') return "expected , or } after label " + std::string(key);
        }
    }
    if (rest.empty() || (rest[0] != ' ' && rest[0] != '\t')) return "expected a blank and a value";
    skip_blanks(rest);
    const std::size_t end = rest.find_first_of(" \t");
    auto value = parse_value(rest.substr(0, end));
    if (auto* why = std::get_if<std::string>(&value)) return *why;
    out.value = std::get<double>(value);
    return {};
}

}  // namespace

std::variant<std::vector<Sample>, std::string> parse_exposition(std::string_view text) {
    std::vector<Sample> samples;
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        skip_blanks(line);
        if (line.empty() || line[0] == '#') continue;
        Sample s;
        if (std::string why = parse_sample(line, s); !why.empty())
            return "line " + std::to_string(line_no) + ": " + why;
        samples.push_back(std::move(s));
    }
    return samples;
}

}  // namespace route_milter
