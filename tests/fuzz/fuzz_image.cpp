// libFuzzer target: the input as a policy image (policy_image.hpp). Policy::open refuses it with
// one line saying why, or opens it; an image it opens answers a fixed set of queries without
// reading outside the input (ASan), and every route it names is one of its own.
#include "route_milter/core/policy.hpp"
#include "route_milter/core/printable.hpp"

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

using namespace route_milter;

namespace {

struct FixedQuery {
    const char* client;
    bool authenticated;
    bool tls;
    const char* sender;
    const char* recipient;
};

// The seeds' domains (tests/fuzz/image_seeds/) and some no seed has, every rule's way in.
const FixedQuery queries[] = {
    {"203.0.113.5", false, false, "<a@far.test>", "<alice@backup.test>"},
    {"203.0.113.5", false, false, "<a@far.test>", "<carol@backup.test>"},
    {"127.0.0.1", true, false, "<boss@trusted.test>", "<x@relay.test>"},
    {"192.0.2.10", true, false, "<me@own.test>", "<x@a.wild.test>"},
    {"2001:db8::5", false, true, "<x@a.senders.test>", "<leser@xn--bcher-kva.test>"},
    {"198.51.100.7", false, false, "<>", "<x@deep.wild.test>"},
    {"10.0.0.1", true, true, "<a@far.test>", "<x@nowhere.example>"},
    {"203.0.113.5", false, false, "<a@far.test>", "<victim%far.test@own.test>"},
    {"203.0.113.5", false, false, "<a@far.test(x)>", "<Postmaster>"},
    {"203.0.113.5", false, false, "<a@far.test(x)>", "<x@backup.test>"},
    {"203.0.113.5", false, false, "<a@far.test>", "<x@backup.test(x)>"},
    {"203.0.113.5", false, false, "<ok@rehearsal.test>", "<x@a.b.c.d.e.example>"},
};

const char* const domains[] = {"backup.test", "a.wild.test", "wild.test", "x.y.z.example", "xn--bcher-kva.test", "test",
                               "a", ""};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // Exactly `size` bytes, owned by the policy as a mapping would be.
    auto bytes = std::make_shared<const std::vector<unsigned char>>(data, data + size);
    const Policy::Opened opened = Policy::open(image::Bytes(bytes->data(), bytes->size()), bytes);
    if ((opened.policy == nullptr) == opened.error.empty()) std::abort();
    if (opened.policy == nullptr) {
        if (find_control(opened.error)) std::abort();  // the daemon logs it as one line
        return 0;
    }
    const Policy& p = *opened.policy;
    if (p.route_count() != p.header().route_count) std::abort();
    // Its sources, read where they lie (image_is_current's way): every one that open checked.
    std::uint32_t sources = 0;
    image::for_each_source(p.header(), [&](std::string_view path, const SourceFile&) {
        const std::string copy(path);
        return ++sources != 0 && copy.size() == path.size();
    });
    if (sources != p.header().source_count) std::abort();
    // Every route a lookup can name reads whole (the copy reads each byte of its pattern).
    for (std::uint32_t i = 0; i < p.route_count() && i < 4096; ++i) {
        const RouteView r = p.route(i);
        const std::string pattern(r.pattern);
        if (r.index != i || pattern.size() != r.record.pattern_length) std::abort();
    }
    for (const char* domain : domains) {
        const std::uint32_t i = p.route_for_domain(domain);
        if (i != Policy::no_route && i != Policy::damaged && i >= p.route_count()) std::abort();
        if (i < p.route_count()) p.is_listed(i, std::string("a@") + domain);
    }
    NormalizedAddress scratch;
    for (const FixedQuery& q : queries) {
        const Decision d = p.decide(Query{parse_ip_address(q.client), q.authenticated, q.sender, q.recipient, q.tls, 0});
        if (d.route && (d.route.index >= p.route_count() || d.route.pattern != p.route(d.route.index).pattern))
            std::abort();
        const SmtpReply reply = reply_for(d.rule);
        if (d.rejects() && reply.code[0] != '5' && reply.code[0] != '4') std::abort();
        if (d.rule == Rule::policy_unreadable && !d.refuses()) std::abort();  // damage never lets mail through
        // The milter's staged way: the facts once, then the recipient.
        NormalizedAddress sender;
        const bool sender_ok = parse_address(q.sender, sender) == AddressStatus::ok;
        const MessageFacts facts =
            p.message_facts(parse_ip_address(q.client), q.authenticated, q.tls, sender_ok ? &sender : nullptr, 0);
        if (p.decide_recipient(facts, q.recipient, scratch).rule != d.rule) std::abort();
    }
    return 0;
}
