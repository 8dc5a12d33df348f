#include "route_milter/core/domain.hpp"

#include <idn2.h>
#include <locale.h>
#include <openssl/asn1.h>
#include <wctype.h>

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
using IdnText = std::unique_ptr<char, IdnFree>;

bool is_label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// The A-label form of a domain with non-ASCII labels (IDNA2008, UTS #46 non-transitional
// mapping), lower case; nullptr when it has none.
IdnText a_labels(std::string_view in) {
    if (in.find('\0') != std::string_view::npos) return nullptr;  // libidn2 would read up to it only
    const std::string input(in);  // libidn2 needs a NUL-terminated copy
    char* raw = nullptr;
    if (idn2_to_ascii_8z(input.c_str(), &raw, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK) return nullptr;
    IdnText ascii(raw);
    for (char* p = ascii.get(); *p != '\0'; ++p) *p = ascii_lower(*p);
    return ascii;
}

// The U-label spelling of an A-label domain, as routectl postfix writes it into the maps.
IdnText u_labels(const char* ascii) {
    char* raw = nullptr;
    if (idn2_to_unicode_8z8z(ascii, &raw, 0) != IDN2_OK) return nullptr;
    return IdnText(raw);
}

// The next code point of UTF-8 `s` at `at` (advanced), or -1 for a malformed sequence (OpenSSL's
// UTF8_getc rejects overlong forms, surrogates and what lies beyond U+10FFFF).
long next_code_point(std::string_view s, std::size_t& at) {
    unsigned long code = 0;
    const int n = UTF8_getc(reinterpret_cast<const unsigned char*>(s.data() + at), static_cast<int>(s.size() - at), &code);
    if (n <= 0) return -1;
    at += static_cast<std::size_t>(n);
    return static_cast<long>(code);
}

// Unicode lower case of a code point: glibc's towlower in C.UTF-8, whatever the process's locale
// (ASCII alone if that locale is missing).
long lower_case(long code) {
    static const locale_t utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (code < 0x80) return ascii_lower(static_cast<char>(code));
    return utf8 != static_cast<locale_t>(nullptr) ? static_cast<long>(towlower_l(static_cast<wint_t>(code), utf8)) : code;
}

// Whether Postfix takes `in` for the maps' spelling `u`: it looks a domain up folding its case
// (smtputf8_enable = yes; without it Postfix refuses 8-bit addresses). Compared code point by
// code point, lower-cased; Postfix's full case folding equates a few more ("\ufb01" with "fi",
// "\u0130" with "i\u0307"), which are refused here rather than judged under a route.
bool same_up_to_case(std::string_view in, std::string_view u) {
    std::size_t i = 0, j = 0;
    while (i < in.size() && j < u.size()) {
        const long a = next_code_point(in, i), b = next_code_point(u, j);
        if (a < 0 || b < 0 || lower_case(a) != lower_case(b)) return false;
    }
    return i == in.size() && j == u.size();
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
    // Rare path (SMTPUTF8 or a U-label in the config). The mapping would also take "bu\u0308cher"
    // (NFD), fullwidth letters, U+3002 as a dot, a soft hyphen or "\ufb01" for "fi" to the same
    // A-labels, but Postfix looks a domain up as it came (folding only its case), and the maps hold
    // the A-labels and their one U-label spelling: any other spelling would be judged under a
    // route whose maps Postfix does not find. So only that spelling is taken, up to case.
    const IdnText ascii = a_labels(in);
    if (!ascii) return DomainStatus::bad_idn;
    const std::string_view result(ascii.get());
    if (result.size() > 255) return DomainStatus::too_long;
    const IdnText unicode = u_labels(ascii.get());
    if (!unicode || !same_up_to_case(in, unicode.get())) return DomainStatus::bad_idn;
    out.assign(result);
    return DomainStatus::ok;
}

std::string canonical_spelling(std::string_view in) {
    if (!in.empty() && in.back() == '.') in.remove_suffix(1);
    if (in.empty() || is_ascii(in)) return {};
    const IdnText ascii = a_labels(in);
    const IdnText unicode = ascii ? u_labels(ascii.get()) : nullptr;
    std::string canonical;
    if (!unicode || same_up_to_case(in, unicode.get()) || canonical_domain(unicode.get(), canonical) != DomainStatus::ok)
        return {};
    return unicode.get();
}

std::string spelling_hint(std::string_view text) {
    const std::size_t at = text.rfind('@');
    const std::string spelled = canonical_spelling(at == std::string_view::npos ? text : text.substr(at + 1));
    return spelled.empty() ? std::string() : "; write the domain as \"" + spelled + "\"";
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
