// libFuzzer target: the address-file reader (address_file.hpp), fed in two pieces cut where the
// input's first byte says, against the same input fed whole; and the same file as Windows
// writes it (a byte-order mark first, CRLF lines) against it.
#include "route_milter/config/address_file.hpp"
#include "route_milter/core/printable.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

using namespace route_milter;

namespace {

std::string reported(AddressFileReader& reader) {
    std::string out;
    for (const Diagnostic& d : reader.errors()) out += format_diagnostic(d) + "\n";
    return out;
}

// The count and the report of `text` read by a fresh reader.
std::pair<std::size_t, std::string> read(const RoutePattern& pattern, std::string_view text) {
    ListedAddresses store;
    AddressFileReader reader(store, 0, pattern, 1, "fuzz.list");
    reader.feed(text);
    reader.finish();
    return {reader.count(), reported(reader)};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static const RoutePattern pattern = std::get<RoutePattern>(RoutePattern::parse("*.example.com"));
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    const std::size_t cut = text.empty() ? 0 : data[0] % (text.size() + 1);
    ListedAddresses whole_store, cut_store;
    AddressFileReader whole(whole_store, 0, pattern, 1, "fuzz.list");
    whole.feed(text);
    whole.finish();
    AddressFileReader pieces(cut_store, 0, pattern, 1, "fuzz.list");
    pieces.feed(text.substr(0, cut));
    pieces.feed(text.substr(cut));
    pieces.finish();
    // However the file is cut, the same addresses and the same errors; every address canonical
    // and inside the route's domain; every error on a line that exists.
    if (whole.count() != pieces.count() || whole.errors().size() != pieces.errors().size()) std::abort();
    if (whole_store.record_count() != whole.count()) std::abort();
    for (std::size_t i = 0; i < whole_store.record_count(); ++i) {
        const std::string_view a = whole_store.text(whole_store.records()[i]);
        if (a != cut_store.text(cut_store.records()[i])) std::abort();
        const std::size_t at = a.rfind('@');
        if (at == std::string_view::npos || !pattern.matches(a.substr(at + 1))) std::abort();
        for (const char c : a)
            if (c >= 'A' && c <= 'Z') std::abort();
    }
    const std::size_t lines = static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    for (const Diagnostic& d : whole.errors())
        if (d.line == 0 || d.line > lines || d.file != "fuzz.list") std::abort();
    // What an error shows of the file: a few lines, each one line and a word of it.
    if (whole.errors().size() > max_shown_errors + 1) std::abort();
    for (const Diagnostic& d : whole.errors())
        if (find_control(d.message) || d.message.size() > 200 + max_shown_word * 4) std::abort();
    // Saved on Windows: a byte-order mark before it and CRLF line ends read as the file itself
    // (unless a line is so long that its CR makes it too long, or it begins with a mark itself).
    const std::string_view bom = "\xEF\xBB\xBF";
    std::size_t longest = 0;
    for (std::size_t at = 0; at <= text.size();) {
        const std::size_t end = std::min(text.find('\n', at), text.size());
        longest = std::max(longest, end - at);
        at = end + 1;
    }
    if (text.substr(0, bom.size()) != bom && longest < max_address_line) {
        std::string windows(bom);
        for (const char c : text) windows += c == '\n' ? std::string("\r\n") : std::string(1, c);
        const auto [count, report] = read(pattern, windows);
        if (count != whole.count() || report != reported(whole)) std::abort();
    }
    whole_store.index([](const ListedAddresses::Record&, const ListedAddresses::Record&) {});
    return 0;
}
