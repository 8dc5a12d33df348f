#include "route_milter/postfix/postmap_reading.hpp"

#include "route_milter/core/printable.hpp"

#include <unicode/ucasemap.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

namespace route_milter {
namespace {

// Postfix's ISSPACE: the ASCII white space of the C locale.
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool all_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

struct CaseMapClose {
    void operator()(UCaseMap* map) const { ucasemap_close(map); }
};

// Postfix's casefold(): ICU's default full case folding with the en_US locale, opened once.
const UCaseMap& case_map() {
    static const std::unique_ptr<UCaseMap, CaseMapClose> map = [] {
        UErrorCode error = U_ZERO_ERROR;
        std::unique_ptr<UCaseMap, CaseMapClose> opened(ucasemap_open("en_US", U_FOLD_CASE_DEFAULT, &error));
        if (U_FAILURE(error)) throw std::runtime_error(std::string("ICU ucasemap_open: ") + u_errorName(error));
        return opened;
    }();
    return *map;
}

}  // namespace

bool postfix_valid_utf8(std::string_view text) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* const end = p + text.size();
    const auto tail = [](unsigned char c) { return (c & 0xc0) == 0x80; };
    while (p < end) {
        const unsigned char c = *p;
        std::size_t n = 0;
        unsigned char low = 0x80, high = 0xbf;  // bounds of the second byte
        if (c < 0x80) n = 1;
        else if (c >= 0xc2 && c <= 0xdf) n = 2;
        else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            if (c == 0xe0) low = 0xa0;   // overlong
            if (c == 0xed) high = 0x9f;  // surrogates
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            if (c == 0xf0) low = 0x90;   // overlong
            if (c == 0xf4) high = 0x8f;  // past U+10FFFF
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) < n) return false;
        if (n > 1 && (p[1] < low || p[1] > high)) return false;
        for (std::size_t i = 2; i < n; ++i)
            if (!tail(p[i])) return false;
        p += n;
    }
    return true;
}

void fold_postfix_key(std::string_view key, bool utf8, std::string& out) {
    if (!utf8 || all_ascii(key)) {
        out.assign(key);
        for (char& c : out)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        return;
    }
    // Full case folding may grow the text (one code point to three): asked again with the size ICU needs.
    out.resize(key.size() * 3 + 16);
    for (;;) {
        UErrorCode error = U_ZERO_ERROR;
        const int32_t n = ucasemap_utf8FoldCase(&case_map(), out.data(), static_cast<int32_t>(out.size()), key.data(),
                                                static_cast<int32_t>(key.size()), &error);
        if (error == U_BUFFER_OVERFLOW_ERROR) {
            out.resize(static_cast<std::size_t>(n));
            continue;
        }
        if (U_FAILURE(error)) throw std::runtime_error(std::string("ICU ucasemap_utf8FoldCase: ") + u_errorName(error));
        out.resize(static_cast<std::size_t>(n));
        return;
    }
}

void PostmapReader::warn(unsigned line, std::string_view why) {
    warnings_.push_back("line " + std::to_string(line) + ": " + std::string(why) + " -- ignoring this line");
}

bool PostmapReader::feed(std::string_view chunk, const PostmapEntrySink& sink) {
    while (!chunk.empty()) {
        const std::size_t end = chunk.find('\n');
        if (end == std::string_view::npos) {
            partial_.append(chunk);
            return true;
        }
        bool more = true;
        if (partial_.empty()) {
            more = physical_line(chunk.substr(0, end), sink);
        } else {
            partial_.append(chunk.substr(0, end));
            more = physical_line(partial_, sink);
            partial_.clear();
        }
        if (!more) return false;
        chunk.remove_prefix(end + 1);
    }
    return true;
}

bool PostmapReader::finish(const PostmapEntrySink& sink) {
    if (!partial_.empty()) {
        const std::string last = std::move(partial_);
        partial_.clear();
        if (!physical_line(last, sink)) return false;
    }
    return flush(sink);
}

bool PostmapReader::physical_line(std::string_view line, const PostmapEntrySink& sink) {
    ++lines_;
    const auto text = std::find_if(line.begin(), line.end(), [](char c) { return !is_space(c); });
    if (text == line.end() || *text == '#') return true;  // blank or comment: not even the end of a logical line
    if (is_space(line.front())) {
        if (have_logical_) logical_.append(line);
        else if (!dropping_) warn(lines_, "a line beginning with white space continues nothing");
        dropping_ = !have_logical_;
        return true;
    }
    if (!flush(sink)) return false;
    logical_.assign(line);
    have_logical_ = true;
    dropping_ = false;
    logical_line_ = lines_;
    return true;
}

// The pending logical line as postmap's key/value split reads it.
bool PostmapReader::flush(const PostmapEntrySink& sink) {
    if (!have_logical_) return true;
    have_logical_ = false;
    std::string_view line(logical_);
    line = line.substr(0, line.find('\0'));  // a C string for postmap
    if (utf8_ && !all_ascii(line) && !postfix_valid_utf8(line)) {
        warn(logical_line_, "not UTF-8 (postmap with smtputf8_enable = yes skips it)");
        return true;
    }
    std::size_t at = 0;
    bool quoted = false;
    for (; at < line.size(); ++at) {
        const char c = line[at];
        if (c == '\\') {
            if (++at == line.size()) break;
        } else if (is_space(c)) {
            if (!quoted) break;
        } else if (c == '"') {
            quoted = !quoted;
        }
    }
    if (quoted) {
        warn(logical_line_, "unbalanced '\"' in " + printable(line, 200));
        return true;
    }
    const std::string_view key = line.substr(0, std::min(at, line.size()));
    std::string_view value = at < line.size() ? line.substr(at + 1) : std::string_view();
    while (!value.empty() && is_space(value.front())) value.remove_prefix(1);
    while (!value.empty() && is_space(value.back())) value.remove_suffix(1);
    if (key.empty() || value.empty()) {
        warn(logical_line_, "expected format: key whitespace value");
        return true;
    }
    fold_postfix_key(key, utf8_, folded_);
    return sink(PostmapEntry{folded_, value, logical_line_});
}

}  // namespace route_milter
