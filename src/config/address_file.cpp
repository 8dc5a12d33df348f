// address_file.cpp - one address per line, streamed into the compact store.
#include "route_milter/config/address_file.hpp"

#include "route_milter/config/config_digest.hpp"
#include "route_milter/config/config_source.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

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
}

void AddressFileReader::line(std::string_view text, bool overlong) {
    ++line_;
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!text.empty() && blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && blank(text.back())) text.remove_suffix(1);
    if (text.empty() || text.front() == '#') return;
    const auto error = [&](std::string_view what) {
        // The offending line, as far as it is printable.
        std::string shown;
        for (const char c : text.substr(0, 200)) shown += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? '?' : c;
        if (text.size() > 200) shown += "...";
        errors_.push_back({name_, line_, std::string(what) + " (\"" + shown + "\")"});
    };
    if (overlong) {
        error("line too long (more than " + std::to_string(max_address_line) + " bytes)");
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

namespace {

// Opens and checks `path`, then hands each piece of it to on_chunk; the sha256 is of them all.
template <typename OnSize, typename OnChunk>
AddressFileRead stream_address_file(const std::string& path, std::vector<char>& buffer, OnSize&& on_size,
                                    OnChunk&& on_chunk) {
    AddressFileRead out;
    struct stat st {};
    auto opened = open_regular_file(path, st);
    if (auto* why = std::get_if<std::string>(&opened)) {
        out.unusable = std::move(*why);
        return out;
    }
    const Fd fd = std::move(std::get<Fd>(opened));
    out.mode = st.st_mode;
    const auto too_big = [&](unsigned long long size) {
        return "too big (" + std::to_string(size) + " bytes; an address file may hold " +
               std::to_string(max_address_file_bytes) + ")";
    };
    if (static_cast<std::size_t>(st.st_size) > max_address_file_bytes) {
        out.unusable = too_big(static_cast<unsigned long long>(st.st_size));
        return out;
    }
    on_size(static_cast<std::size_t>(st.st_size));
    Sha256Stream sha256;  // the config digest covers address files too
    std::size_t total = 0;
    for (;;) {
        const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            out.unusable = std::string("cannot read the file (") + std::strerror(errno) + ")";
            return out;
        }
        if (n == 0) break;
        total += static_cast<std::size_t>(n);
        if (total > max_address_file_bytes) {
            out.unusable = too_big(total);
            return out;
        }
        const std::string_view chunk(buffer.data(), static_cast<std::size_t>(n));
        sha256.update(chunk);
        on_chunk(chunk);
    }
    out.sha256 = sha256.finish();
    return out;
}

}  // namespace

AddressFileRead read_address_file(const std::string& path, AddressFileReader& reader, std::vector<char>& buffer) {
    AddressFileRead out = stream_address_file(
        path, buffer, [&](std::size_t size) { reader.expect_bytes(size); },
        [&](std::string_view chunk) { reader.feed(chunk); });
    if (!out.unusable) reader.finish();
    return out;
}

AddressFileRead hash_address_file(const std::string& path, std::vector<char>& buffer) {
    return stream_address_file(path, buffer, [](std::size_t) {}, [](std::string_view) {});
}

}  // namespace route_milter
