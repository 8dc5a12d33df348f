// libFuzzer target: decide() on a compiled policy with fuzzed queries.
// Input: CLIENT '\0' SENDER '\0' RECIPIENT ['\0' flags], missing parts empty.
#include "route_milter/core/policy.hpp"
#include "route_milter/config/load_policy.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace route_milter;

namespace {
const char* policy_text = R"(
    scope = "all";
    local_domains = [ "local.example", "bücher.example" ];
    ip_ranges = ( { name = "lan"; cidr = [ "10.0.0.0/8", "fd00::/8" ]; priority = 20;
                    allow = [ "local-local", "local-external", "external-local" ]; require_auth = [ "local-external" ]; },
                  { name = "world"; cidr = [ "0.0.0.0/0", "::/0" ]; priority = 10;
                    allow = [ "external-local", "local-local", "local-external", "external-external" ];
                    require_auth = [ "local-local", "local-external", "external-external" ]; } );
    routes = ( { domain = "backup.example"; treat_recipient_as = "local"; deliver_to = "listed";
                 addresses = [ "alice@backup.example", "\"john doe\"@backup.example" ]; },
               { domain = "*.wild.example"; treat_sender_as = "local"; },
               { domain = "exact.wild.example"; deliver_to = "listed"; addresses = [ "x@exact.wild.example" ]; },
               { domain = "*"; treat_recipient_as = "external"; } );
)";

const Policy& policy() {
    static const std::shared_ptr<const Policy> p = [] {
        PolicyResult r = load_policy_text(policy_text, "fuzz-policy.conf");
        if (!r.policy) std::abort();
        return r.policy;
    }();
    return *p;
}

std::string_view next_part(std::string_view& rest) {
    const std::size_t nul = rest.find('\0');
    const std::string_view part = rest.substr(0, nul);
    rest.remove_prefix(nul == std::string_view::npos ? rest.size() : nul + 1);
    return part;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    const std::string_view client = next_part(rest);
    const std::string_view sender = next_part(rest);
    const std::string_view recipient = next_part(rest);
    const bool authenticated = !next_part(rest).empty();
    const Decision d = policy().decide(Query{parse_ip_address(client), authenticated, sender, recipient});
    // Every decision names a rule with a reply; rejections have a 4xx/5xx code.
    const SmtpReply reply = reply_for(d.rule);
    if (d.rejects() && (reply.code[0] != '5' && reply.code[0] != '4')) std::abort();
    // A delivery class exactly where the rules that need one decided.
    const bool classed = d.rule == Rule::not_allowed || d.rule == Rule::auth_required || d.rule == Rule::no_objection;
    if (d.delivery_class.has_value() != classed) std::abort();
    if (d.rule == Rule::no_objection && d.range == nullptr) std::abort();  // rule 2 needs a range to pass
    char text[2048];
    format_reply_text(d.rule, recipient, text, sizeof text);
    for (const char* p = text; *p != '\0'; ++p)
        if (static_cast<unsigned char>(*p) < 0x20 || *p == '%') std::abort();  // safe in an SMTP reply
    return 0;
}
