#include "route_milter/core/domain.hpp"

#include <idn2.h>

#include <algorithm>
#include <memory>

namespace route_milter {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_ascii(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

struct IdnFree {
    void operator()(char* p) const { idn2_free(p); }
};

bool is_label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

}  // namespace

DomainStatus canonical_domain(std::string_view in, std::string& out) {
    out.clear();
    if (!in.empty() && in.back() == '.') in.remove_suffix(1);
    if (in.empty()) return DomainStatus::empty;
    if (in.size() > 255) return DomainStatus::too_long;
    if (is_ascii(in)) {
        out.resize(in.size());
        std::transform(in.begin(), in.end(), out.begin(), ascii_lower);
        return DomainStatus::ok;
    }
    if (in.front() == '[') return DomainStatus::bad_idn;
    // Rare path (SMTPUTF8 or a U-label in the config): libidn2 needs a NUL-terminated copy.
    const std::string input(in);
    char* raw = nullptr;
    if (idn2_to_ascii_8z(input.c_str(), &raw, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK)
        return DomainStatus::bad_idn;
    const std::unique_ptr<char, IdnFree> ascii(raw);
    const std::string_view result(ascii.get());
    if (result.size() > 255) return DomainStatus::too_long;
    out.resize(result.size());
    std::transform(result.begin(), result.end(), out.begin(), ascii_lower);
    return DomainStatus::ok;
}

bool is_host_name(std::string_view name) {
    if (name.empty() || name.size() > 253) return false;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = name.find('.', start);
        const std::string_view label = name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
        if (label.empty() || label.size() > 63) return false;
        if (label.front() == '-' || label.back() == '-') return false;
        if (!std::all_of(label.begin(), label.end(), is_label_char)) return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

}  // namespace route_milter
