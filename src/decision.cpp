#include "route_milter/decision.hpp"

#include <array>

namespace route_milter {
namespace {

struct RuleEntry {
    std::string_view name;
    SmtpReply reply;
};

// Indexed by Rule.
constexpr std::array<RuleEntry, 6> rule_table{{
    {"out-of-scope", {"250", "2.1.5", "Ok", false}},
    {"accepted", {"250", "2.1.5", "Ok", false}},
    {"bad-address", {"501", "5.1.3", "Bad recipient address syntax.", true}},
    {"not-listed", {"550", "5.1.1", "Recipient not in route list.", true}},
    {"not-allowed", {"550", "5.7.1", "Delivery is not allowed to this address.", false}},
    {"auth-required", {"530", "5.7.0", "SMTP authentication is required.", false}},
}};

}  // namespace

SmtpReply reply_for(Rule rule) { return rule_table[static_cast<std::size_t>(rule)].reply; }
std::string_view name_of(Rule rule) { return rule_table[static_cast<std::size_t>(rule)].name; }

}  // namespace route_milter
