// config_source.cpp - read the config and its @includes, checked, into one text with a line map.
#include "route_milter/config/config_source.hpp"

#include "route_milter/config/config_digest.hpp"
#include "route_milter/core/printable.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>
#include <variant>

namespace route_milter {

SourceLocation ConfigSource::locate(unsigned text_line) const {
    auto it = std::upper_bound(segments_.begin(), segments_.end(), text_line,
                               [](unsigned line, const Segment& s) { return line < s.text_line; });
    if (it == segments_.begin()) return SourceLocation{0, text_line};
    --it;
    return SourceLocation{it->from.file, it->from.line + (text_line - it->text_line)};
}

void ConfigSource::map_from(unsigned text_line, std::uint32_t file, unsigned line) {
    if (!segments_.empty()) {
        Segment& last = segments_.back();
        if (last.from.file == file && last.from.line + (text_line - last.text_line) == line) return;  // continues
        if (last.text_line == text_line) {
            last.from = {file, line};
            return;
        }
    }
    segments_.push_back({text_line, {file, line}});
}

namespace {

constexpr unsigned max_include_depth = 10;  // libconfig 1.5's MAX_INCLUDE_DEPTH
constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";  // U+FEFF in UTF-8

bool starts_with_include(std::string_view text, std::size_t pos, std::size_t& name_start) {
    // libconfig 1.5: include_open  ^[ \t]*@include[ \t]+\"
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    if (text.compare(pos, 8, "@include") != 0) return false;
    pos += 8;
    const std::size_t blanks = pos;
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) ++pos;
    if (pos == blanks || pos >= text.size() || text[pos] != '"') return false;
    name_start = pos + 1;
    return true;
}

class Expander {
public:
    Expander(ConfigSource& out, std::string include_dir) : out_(out), include_dir_(std::move(include_dir)) {}

    // Appends file `index` (its text given) to the output, expanding its @include lines.
    void expand(std::uint32_t index, std::string_view text, unsigned depth);

    // Reads and checks a file from disk; its index in out_.files, or nullopt with `why`.
    std::optional<std::uint32_t> open_file(const std::string& path, std::string& text, std::string& why);

private:
    void error(SourceLocation at, std::string what) {
        out_.errors.push_back({out_.files[at.file].name, at.line, std::move(what)});
    }
    void append(std::uint32_t file, unsigned line, std::string_view chunk) {
        if (chunk.empty()) return;
        out_.map_from(text_line_, file, line);
        out_.text.append(chunk);
        text_line_ += static_cast<unsigned>(std::count(chunk.begin(), chunk.end(), '\n'));
    }
    std::string resolve(const std::string& name) const {
        if (name.front() == '/' || include_dir_.empty()) return name;
        return include_dir_ + (include_dir_.back() == '/' ? "" : "/") + name;
    }
    void include(SourceLocation at, const std::string& name, unsigned depth);

    ConfigSource& out_;
    std::string include_dir_;
    FileOpener opener_;
    std::vector<char> buffer_ = std::vector<char>(std::size_t{1} << 16);
    unsigned text_line_ = 1;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> open_;  // the files being expanded (device, inode), outermost first
};

std::optional<std::uint32_t> Expander::open_file(const std::string& path, std::string& text, std::string& why) {
    SourceFile identity;
    auto opened = opener_.open(path, identity);
    if (auto* bad = std::get_if<std::string>(&opened)) {
        why = std::move(*bad);
        return std::nullopt;
    }
    const std::size_t budget = max_config_file_bytes - std::min(out_.text.size(), max_config_file_bytes);
    text.clear();
    text.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(identity.size, budget)));
    if (auto bad = read_to_end(std::get<Fd>(opened), identity.size, budget,
                               "the config and its @includes may hold " + std::to_string(max_config_file_bytes),
                               buffer_, [&](std::string_view chunk) { text.append(chunk); })) {
        why = std::move(*bad);
        return std::nullopt;
    }
    const std::pair<std::uint64_t, std::uint64_t> id{identity.device, identity.inode};
    if (std::find(open_.begin(), open_.end(), id) != open_.end()) {
        why = "includes itself (an @include cycle)";
        return std::nullopt;
    }
    if (text.find('\0') != std::string::npos) {
        why = "the file contains a NUL byte";
        return std::nullopt;
    }
    const auto index = static_cast<std::uint32_t>(out_.files.size());
    out_.files.push_back({path, true, sha256_of(text), false, identity});
    if ((identity.mode & (S_IWGRP | S_IWOTH)) != 0)
        error({index, 0}, "group or other users can write it; run chmod go-w (mode " + mode_text(identity.mode) + ")");
    open_.push_back(id);
    return index;
}

void Expander::include(SourceLocation at, const std::string& name, unsigned depth) {
    const std::string path = resolve(name);
    const std::string label = "@include \"" + name + "\"" + (path == name ? "" : " (" + path + ")") + ": ";
    if (depth >= max_include_depth) {
        error(at, label + "includes nested more than " + std::to_string(max_include_depth) + " deep");
        out_.complete = false;
        return;
    }
    std::string text;
    std::string why;
    const auto index = open_file(path, text, why);
    if (!index) {
        error(at, label + why);
        out_.complete = false;
        return;
    }
    expand(*index, text, depth + 1);
    open_.pop_back();
}

void Expander::expand(std::uint32_t index, std::string_view text, unsigned depth) {
    // A byte-order mark (an editor on Windows) begins the file, not its first setting.
    if (text.substr(0, byte_order_mark.size()) == byte_order_mark) text.remove_prefix(byte_order_mark.size());
    enum class State { initial, comment, string };
    State state = State::initial;
    unsigned line = 1;
    unsigned opened_at = 0;  // the line the comment or string in progress began on
    bool bol = true;  // flex's yy_at_bol: at the start of the buffer or just after a '\n'
    std::size_t chunk = 0;
    unsigned chunk_line = 1;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const char c = text[pos];
        const char next = pos + 1 < text.size() ? text[pos + 1] : '\0';
        std::size_t name_start = 0;
        if (state == State::initial && bol && starts_with_include(text, pos, name_start)) {
            append(index, chunk_line, text.substr(chunk, pos - chunk));
            const SourceLocation at{index, line};
            std::string name;
            std::size_t p = name_start;
            bool closed = false;
            std::string bad;
            for (; p < text.size(); ++p) {
                if (text[p] == '"') {
                    closed = true;
                    break;
                }
                if (text[p] == '\n') break;
                if (text[p] == '\\') {
                    if (p + 1 < text.size() && (text[p + 1] == '\\' || text[p + 1] == '"')) name += text[++p];
                    else if (bad.empty()) bad = "unsupported escape in the name (only \\\\ and \\\")";
                    continue;
                }
                name += text[p];
            }
            if (!closed) {
                error(at, "@include: the name has no closing quote on its line");
                out_.complete = false;
                pos = p;  // the '\n' (or the end) is scanned normally
                chunk = pos;
                chunk_line = line;
                bol = false;
                continue;
            }
            if (bad.empty() && find_control(name))
                bad = "a control character in the name (log lines and errors show it)";
            if (!bad.empty() || name.empty()) {
                error(at, "@include \"" + printable(name) + "\": " + (name.empty() ? std::string("empty name") : bad));
                out_.complete = false;
            } else {
                include(at, name, depth);
            }
            // The rest of the line follows the included text on a line of its own.
            if (!out_.text.empty() && out_.text.back() != '\n') {
                out_.text += '\n';
                ++text_line_;
            }
            pos = p + 1;
            chunk = pos;
            chunk_line = line;
            bol = false;
            std::size_t ignored = 0;
            if (starts_with_include(text, pos, ignored)) {
                // libconfig would call this '@' garbage; on a line of its own it would be an @include.
                error(at, "syntax error: a second @include on one line (each must start a line)");
                out_.complete = false;
            }
            continue;
        }
        switch (state) {
        case State::initial:
            if (c == '"') state = State::string, opened_at = line;
            else if (c == '/' && next == '*') state = State::comment, opened_at = line, ++pos;
            else if (c == '#' || (c == '/' && next == '/'))
                while (pos + 1 < text.size() && text[pos + 1] != '\n') ++pos;  // up to the '\n'
            break;
        case State::string:
            if (c == '\\' && (next == '\\' || next == '"')) ++pos;
            else if (c == '"') state = State::initial;
            break;
        case State::comment:
            if (c == '*' && next == '/') state = State::initial, ++pos;
            break;
        }
        bol = text[pos] == '\n';
        if (bol) ++line;
        ++pos;
    }
    append(index, chunk_line, text.substr(chunk));
    if (index != 0 && state != State::initial) {
        // libconfig would carry the comment or string on into the including file.
        error({index, opened_at}, state == State::comment ? "the file ends inside a /* comment */ begun here"
                                                          : "the file ends inside a string begun here");
        out_.complete = false;
    }
}

}  // namespace

ConfigSource read_config_source_text(std::string_view text, const std::string& name) {
    ConfigSource out;
    out.files.push_back({name, false, sha256_of(text), false, {}});
    if (text.find('\0') != std::string_view::npos) {
        out.errors.push_back({name, 0, "the file contains a NUL byte"});
        return out;
    }
    if (text.size() > max_config_file_bytes) {
        out.errors.push_back({name, 0, "too big (" + std::to_string(text.size()) + " bytes)"});
        return out;
    }
    out.complete = true;
    Expander(out, "").expand(0, text, 0);
    return out;
}

ConfigSource read_config_source_file(const std::string& path) {
    ConfigSource out;
    const std::size_t slash = path.rfind('/');
    Expander expander(out, slash == std::string::npos ? std::string() : path.substr(0, slash == 0 ? 1 : slash));
    std::string text;
    std::string why;
    if (!expander.open_file(path, text, why)) {
        out.files.push_back({path, false, {}, false, {}});
        out.errors.push_back({path, 0, why});
        return out;
    }
    out.complete = true;
    expander.expand(0, text, 0);
    return out;
}

}  // namespace route_milter
