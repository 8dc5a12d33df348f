// address_file.cpp - one address per line, streamed into the compact store.
#include "route_milter/config/address_file.hpp"

#include "route_milter/config/config_digest.hpp"
#include "route_milter/config/config_source.hpp"
#include "route_milter/core/printable.hpp"

#include <algorithm>
#include <utility>
#include <variant>

namespace route_milter {

void AddressFileReader::feed(std::string_view chunk) {
    while (!chunk.empty()) {
        const std::size_t nl = chunk.find('\n');
        const std::string_view piece = chunk.substr(0, nl);
        if (nl != std::string_view::npos && partial_.empty() && !overlong_) {
            line(piece, piece.size() > max_address_line);  // the whole line is in this chunk: no copy
        } else {
            const std::size_t room = max_address_line - std::min(partial_.size(), max_address_line);
            partial_.append(piece.substr(0, room));
            overlong_ = overlong_ || piece.size() > room;
            if (nl == std::string_view::npos) return;
            line(partial_, overlong_);
            partial_.clear();
            overlong_ = false;
        }
        chunk.remove_prefix(nl + 1);
    }
}

void AddressFileReader::finish() {
    if (!partial_.empty() || overlong_) line(partial_, overlong_);
    partial_.clear();
    overlong_ = false;
    if (unshown_ != 0)
        errors_.push_back({name_, first_unshown_,
                           "and " + std::to_string(unshown_) + " more bad line" + (unshown_ == 1 ? "" : "s") +
                               " from here on, not shown (a file's first " + std::to_string(max_shown_errors) +
                               " are)"});
    unshown_ = 0;
}

namespace {

constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";  // U+FEFF in UTF-8

// The first word of a line: up to a blank outside "quotes" (a quoted local part may hold one).
std::string_view first_word(std::string_view text) {
    bool quoted = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted && c == '\\') ++i;
        else if (c == '"') quoted = !quoted;
        else if (!quoted && (c == ' ' || c == '\t')) return text.substr(0, i);
    }
    return text;
}

}  // namespace

void AddressFileReader::line(std::string_view text, bool overlong) {
    ++line_;
    // A byte-order mark (an editor on Windows) begins the file, not its first address.
    if (line_ == 1 && text.substr(0, byte_order_mark.size()) == byte_order_mark)
        text.remove_prefix(byte_order_mark.size());
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!text.empty() && blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && blank(text.back())) text.remove_suffix(1);
    if (text.empty() || text.front() == '#') return;
    const auto error = [&](std::string_view what) {
        // Whoever writes the file sees the errors of a reload in the daemon's log: no more of a
        // line than its first word, and no more than a few lines of a file.
        if (errors_.size() >= max_shown_errors) {
            if (unshown_++ == 0) first_unshown_ = line_;
            return;
        }
        const std::string_view word = first_word(text);
        errors_.push_back({name_, line_,
                           std::string(what) + " (\"" + printable(word, max_shown_word) + "\"" +
                               (word.size() < text.size() ? ", then more on the line" : "") + ")"});
    };
    if (overlong) {
        error("line too long (more than " + std::to_string(max_address_line) + " bytes)");
        return;
    }
    if (text.find(byte_order_mark) != std::string_view::npos) {
        error("a byte-order mark (U+FEFF) inside the file: only the file may begin with one");
        return;
    }
    const AddressStatus status = parse_address(text, parsed_);
    if (status != AddressStatus::ok || !parsed_.has_domain() || parsed_.local().empty()) {
        error(status == AddressStatus::ok ? "not local@domain" : describe(status));
        return;
    }
    if (!pattern_.empty() && !pattern_.matches(parsed_.domain())) {
        error("address outside the route's domain " + pattern_.text());
        return;
    }
    listed_.add(parsed_.text(), route_, line_, file_);
    ++count_;
}

AddressFileRead read_address_file(FileOpener& opener, const std::string& path, AddressFileReader& reader,
                                  std::vector<char>& buffer) {
    AddressFileRead out;
    auto opened = opener.open(path, out.identity);
    if (auto* why = std::get_if<std::string>(&opened)) {
        out.unusable = std::move(*why);
        return out;
    }
    if (out.identity.size <= max_address_file_bytes) reader.expect_bytes(static_cast<std::size_t>(out.identity.size));
    Sha256Stream sha256;  // the config digest covers address files too
    out.unusable = read_to_end(std::get<Fd>(opened), out.identity.size, max_address_file_bytes,
                               "an address file may hold " + std::to_string(max_address_file_bytes), buffer,
                               [&](std::string_view chunk) {
                                   sha256.update(chunk);
                                   reader.feed(chunk);
                               });
    if (out.unusable) return out;
    out.sha256 = sha256.finish();
    reader.finish();
    return out;
}

}  // namespace route_milter
