#include "route_milter/core/decision.hpp"

#include "route_milter/core/rule_names.hpp"

#include <array>

namespace route_milter {
namespace {

// Indexed by Rule, like rule_names (rule_names.hpp).
constexpr std::array<SmtpReply, rule_names.size()> rule_table{{
    /* out-of-scope */ {"250", "2.1.5", "Ok", false},
    /* no-objection */ {"250", "2.1.5", "Ok", false},
    /* bad-address */ {"501", "5.1.3", "Bad recipient address syntax.", true},
    /* not-listed */ {"550", "5.1.1", "Recipient not in route list.", true},
    /* not-allowed */ {"550", "5.7.1", "Delivery is not allowed to this address.", false},
    /* auth-required */ {"530", "5.7.0", "SMTP authentication is required.", false},
    /* bad-sender */ {"501", "5.1.7", "Bad sender address syntax.", false},
    /* postmaster */ {"250", "2.1.5", "Ok", false},
    /* routed-address */ {"550", "5.7.1", "Source-routed addresses are not accepted.", true},
    /* tls-required */ {"530", "5.7.0", "Must issue a STARTTLS command first.", false},
    /* policy-unreadable */ {"451", "4.3.0", "Policy unavailable, try again later.", false},
}};

}  // namespace

bool is_policy_rule(Rule rule) {
    switch (rule) {
    case Rule::not_listed:
    case Rule::not_allowed:
    case Rule::auth_required:
    case Rule::routed_address:
    case Rule::tls_required: return true;
    case Rule::out_of_scope:
    case Rule::no_objection:
    case Rule::bad_address:
    case Rule::bad_sender:
    case Rule::postmaster:
    case Rule::policy_unreadable: return false;
    }
    return false;
}

SmtpReply reply_for(Rule rule) { return rule_table[static_cast<std::size_t>(rule)]; }
void format_reply_text(Rule rule, std::string_view recipient, char* out, std::size_t size) {
    if (size == 0) return;
    const SmtpReply reply = reply_for(rule);
    std::size_t n = 0;
    const auto put = [&](char c) {
        if (n + 1 < size) out[n++] = c;
    };
    if (reply.names_address) {
        put('<');
        std::size_t quoted = 0;
        for (const char ch : recipient) {
            const auto c = static_cast<unsigned char>(ch);
            if (c == '<' || c == '>') continue;
            if (quoted++ == max_quoted_address) {
                for (int i = 0; i < 3; ++i) put('.');
                break;
            }
            put((c < 0x20 || c >= 0x7f || c == '%' || c == '\\') ? '?' : ch);
        }
        put('>');
        put(':');
        put(' ');
    }
    for (const char c : std::string_view(reply.text)) put(c);
    out[n] = '\0';
}

std::string_view name_of(Rule rule) { return rule_names.name(rule); }

}  // namespace route_milter
