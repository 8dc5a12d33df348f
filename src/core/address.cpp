#include "route_milter/core/address.hpp"

#include "route_milter/core/domain.hpp"

namespace route_milter {
namespace {

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool is_control(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
}

// RFC 822 specials (besides the ones with their own status) that tok822 and prescan take as
// address syntax outside quotes.
bool is_special(char c) { return c == ',' || c == ';' || c == ':' || c == '[' || c == ']'; }

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

std::string_view trim_blanks(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

std::string_view NormalizedAddress::local() const {
    return has_domain() ? std::string_view(text_).substr(0, at_) : std::string_view(text_);
}

std::string_view NormalizedAddress::domain() const {
    return has_domain() ? std::string_view(text_).substr(at_ + 1) : std::string_view();
}

AddressStatus parse_address(std::string_view raw, NormalizedAddress& out) {
    out.text_.clear();
    out.at_ = std::string::npos;
    if (raw.size() > max_address_length) return AddressStatus::too_long;
    raw = trim_blanks(raw);
    if (raw.empty()) return AddressStatus::empty;
    if (raw.front() == '<') {
        if (raw.size() < 2 || raw.back() != '>') return AddressStatus::unbalanced_angle;
        raw = raw.substr(1, raw.size() - 2);
    } else if (raw.back() == '>') {
        return AddressStatus::unbalanced_angle;
    }
    if (raw.empty()) return AddressStatus::ok;  // <>: the null sender
    if (raw.front() == '@') {                    // obsolete source route: @a,@b:user@domain
        const std::size_t colon = raw.find(':');
        if (colon == std::string_view::npos) return AddressStatus::bad_source_route;
        const std::string_view route = raw.substr(0, colon);
        raw.remove_prefix(colon + 1);
        if (raw.empty()) return AddressStatus::bad_source_route;
        for (const char c : route) {
            if (c == '(' || c == ')') return AddressStatus::comment;
            if (is_control(c) || c == ' ' || c == '"' || c == '\\' || c == '<' || c == '>' || c == ';' || c == '[' ||
                c == ']')
                return AddressStatus::bad_source_route;
        }
    }

    // The local part is written by index into a buffer as long as the input: no capacity check
    // per character (the RCPT path's hottest loop).
    const auto fail = [&](AddressStatus status) {  // nothing half-parsed is left behind
        out.text_.clear();
        return status;
    };
    out.text_.resize(raw.size());
    char* const local = out.text_.data();
    std::size_t n = 0;
    std::size_t i = 0;
    for (; i < raw.size() && raw[i] != '@'; ++i) {
        const char c = raw[i];
        if (c == '"') {
            for (++i;; ++i) {
                if (i >= raw.size()) return fail(AddressStatus::unbalanced_quote);
                if (raw[i] == '"') break;
                if (raw[i] == '\\' && ++i >= raw.size()) return fail(AddressStatus::unbalanced_quote);
                if (raw[i] == '\0' || raw[i] == '\r' || raw[i] == '\n') return fail(AddressStatus::bad_character);
                local[n++] = ascii_lower(raw[i]);
            }
        } else if (c == '\\') {
            if (++i >= raw.size()) return fail(AddressStatus::bad_character);
            if (is_control(raw[i])) return fail(AddressStatus::bad_character);
            local[n++] = ascii_lower(raw[i]);
        } else if (c == '(' || c == ')') {
            return fail(AddressStatus::comment);
        } else if (is_special(c)) {
            return fail(AddressStatus::special_character);
        } else if (is_control(c) || c == ' ' || c == '<' || c == '>') {
            return fail(AddressStatus::bad_character);
        } else {
            local[n++] = ascii_lower(c);
        }
    }
    out.text_.resize(n);
    if (i == raw.size()) return AddressStatus::ok;  // no domain: "postmaster"

    const std::string_view domain = raw.substr(i + 1);
    // An address literal is "[...]" as a whole; its inside is checked like a name's.
    const bool literal = domain.size() >= 2 && domain.front() == '[' && domain.back() == ']';
    for (const char c : literal ? domain.substr(1, domain.size() - 2) : domain) {
        if (c == '(' || c == ')') return fail(AddressStatus::comment);
        if (is_special(c) && !(literal && c == ':')) return fail(AddressStatus::special_character);  // [IPv6:...]
        if (is_control(c) || c == ' ' || c == '@' || c == '"' || c == '<' || c == '>' || c == '\\')
            return fail(AddressStatus::bad_character);
    }
    switch (canonical_domain(domain, out.domain_scratch_)) {
    case DomainStatus::ok:
        // IDNA maps some code points to nothing (U+FEFF, U+00AD): a name of those alone is none.
        if (out.domain_scratch_.empty()) return fail(AddressStatus::bad_domain);
        break;
    case DomainStatus::too_long: return fail(AddressStatus::too_long);
    case DomainStatus::empty:
    case DomainStatus::bad_idn: return fail(AddressStatus::bad_domain);
    }
    out.at_ = out.text_.size();
    out.text_ += '@';
    out.text_ += out.domain_scratch_;
    return AddressStatus::ok;
}

EnvelopeReading read_envelope_address(const char* mta_reading, std::string_view argument, NormalizedAddress& out) {
    EnvelopeReading r;
    std::string_view bare = trim_blanks(argument);
    if (bare.size() >= 2 && bare.front() == '<' && bare.back() == '>') bare = bare.substr(1, bare.size() - 2);
    r.bare_postmaster = iequals(bare, "postmaster");
    if (mta_reading == nullptr) {  // the MTA sent no reading: the argument, strictly
        r.status = parse_address(argument, out);
        return r;
    }
    const std::string_view mta(mta_reading);
    r.from_mta = true;
    if (mta.empty() || mta == "<>") {  // the MTA read the null sender
        r.status = parse_address("<>", out);
        return r;
    }
    // A reading the milter cannot parse is refused, never replaced by a guess of its own.
    r.status = parse_address(mta, out);
    if (r.status != AddressStatus::ok || out.has_domain()) return r;
    // The user alone (Sendmail's local mailer): the domain comes from the argument, read
    // strictly, whose local part must be the one the MTA read.
    r.from_mta = false;
    std::string_view user = mta;
    if (user.size() >= 2 && user.front() == '"' && user.back() == '"' && user.find('\\') == std::string_view::npos)
        user = user.substr(1, user.size() - 2);
    r.status = parse_address(argument, out);
    if (r.status == AddressStatus::ok && !iequals(out.local(), user))
        r.status = AddressStatus::mta_disagrees;
    if (r.status != AddressStatus::ok) parse_address("<>", out);  // nothing half-read is left behind
    return r;
}

std::string_view describe(AddressStatus status) {
    switch (status) {
    case AddressStatus::ok: return "valid address";
    case AddressStatus::empty: return "empty address";
    case AddressStatus::unbalanced_angle: return "unbalanced angle bracket";
    case AddressStatus::unbalanced_quote: return "unbalanced quote";
    case AddressStatus::bad_source_route: return "malformed source route";
    case AddressStatus::bad_character: return "invalid character";
    case AddressStatus::comment: return "RFC 822 comment";
    case AddressStatus::special_character: return "RFC 822 special character outside quotes";
    case AddressStatus::mta_disagrees: return "read otherwise by the MTA";
    case AddressStatus::bad_domain: return "invalid domain";
    case AddressStatus::too_long: return "address too long";
    }
    return "invalid address";
}

}  // namespace route_milter
