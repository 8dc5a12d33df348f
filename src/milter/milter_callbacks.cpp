#include "milter_callbacks.hpp"

#include "route_milter/common/log.hpp"

#include <libmilter/mfdef.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>

namespace route_milter {
namespace {

Live<Serving>* live_serving = nullptr;

// Stages the milter does not use, and the replies it never gives: the MTA skips them.
constexpr unsigned long unused_stages = SMFIP_NOHELO | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY | SMFIP_NODATA |
                                        SMFIP_NOUNKNOWN;
constexpr unsigned long no_reply_stages = SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_HELO | SMFIP_NR_HDR |
                                          SMFIP_NR_EOH | SMFIP_NR_BODY | SMFIP_NR_DATA | SMFIP_NR_UNKN;

struct MessageContext {
    std::string sender_log;  // the sender as judged (else as the client wrote it), for logs
    MessageFacts facts;
    bool started = false;    // MAIL FROM seen
};

struct ConnectionContext {
    std::shared_ptr<const Serving> serving;  // the snapshot this connection keeps to its end
    const Policy* policy = nullptr;          // serving->policy
    unsigned long protocol = 0;            // SMFIP_* flags agreed with the MTA
    std::optional<IpAddress> client;
    std::string client_label;  // "host[ip]" for logs
    MessageContext message;
    NormalizedAddress sender;     // scratch, reused
    NormalizedAddress written_sender;  // scratch, reused
    NormalizedAddress recipient;  // scratch, reused
    std::string rcpt_log;         // scratch, reused
};

ConnectionContext* context_of(SMFICTX* ctx) { return static_cast<ConnectionContext*>(smfi_getpriv(ctx)); }

// MTAs do not all negotiate: allocate on first use, whichever callback comes first.
ConnectionContext* ensure_context(SMFICTX* ctx) {
    if (ConnectionContext* c = context_of(ctx)) return c;
    auto fresh = std::unique_ptr<ConnectionContext>(new (std::nothrow) ConnectionContext);
    if (!fresh) return nullptr;
    fresh->serving = live_serving->snapshot();
    fresh->policy = fresh->serving->policy.get();
    if (smfi_setpriv(ctx, fresh.get()) != MI_SUCCESS) return nullptr;
    if (fresh->serving->counters != nullptr)
        fresh->serving->counters->connections.fetch_add(1, std::memory_order_relaxed);
    return fresh.release();
}

sfsistat no_reply_or(const ConnectionContext& c, unsigned long flag, sfsistat otherwise) {
    return (c.protocol & flag) != 0 ? SMFIS_NOREPLY : otherwise;
}

const char* macro(SMFICTX* ctx, const char* name) {
    const char* v = smfi_getsymval(ctx, const_cast<char*>(name));
    return v != nullptr ? v : "";
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps, unsigned long, unsigned long,
                      unsigned long* actions_out, unsigned long* steps_out, unsigned long*, unsigned long*) {
    ConnectionContext* c = ensure_context(ctx);
    if (c == nullptr) return SMFIS_TEMPFAIL;
    c->protocol = (unused_stages | no_reply_stages) & steps;
    *steps_out = c->protocol;
    *actions_out = 0;
    if ((actions & SMFIF_SETSYMLIST) != 0) {
        *actions_out = SMFIF_SETSYMLIST;
        // Only the macros the decision and the log need. TLS: Postfix and Sendmail both set
        // {tls_version} once STARTTLS (or SMTPS) is in force; {cipher} as a second witness.
        // {mail_addr} and {rcpt_addr}: the addresses as the MTA itself read them.
        smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>("i {auth_authen} {tls_version} {cipher} {mail_addr}"));
        smfi_setsymlist(ctx, SMFIM_ENVRCPT, const_cast<char*>("i {rcpt_addr}"));
    }
    return SMFIS_CONTINUE;
}

sfsistat on_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* address) {
    ConnectionContext* c = ensure_context(ctx);
    if (c == nullptr) return SMFIS_TEMPFAIL;
    c->client = ip_address_from_sockaddr(address);
    // Postfix passes "[ip]" when the client has no name; log it as Postfix does: unknown[ip].
    c->client_label = hostname != nullptr && hostname[0] != '[' && hostname[0] != '\0' ? hostname : "unknown";
    c->client_label += '[';
    c->client_label += c->client ? to_string(*c->client) : std::string("unknown");
    c->client_label += ']';
    return no_reply_or(*c, SMFIP_NR_CONN, SMFIS_CONTINUE);
}

// "<address>" for a log line: the judged address, else the raw argument as the client wrote
// it, marked "(unread)"; every byte that could end or forge a log line escaped as \xHH.
void set_log_address(std::string& out, std::string_view address, bool judged) {
    out.assign(judged ? "<" : "");
    for (const char ch : address) {
        const auto u = static_cast<unsigned char>(ch);
        if (u < 0x20 || u == 0x7f || (!judged && u == '\\')) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[u >> 4];
            out += hex[u & 15];
        } else {
            out += ch;
        }
    }
    if (judged) out += '>';
    else out += " (unread)";
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    ConnectionContext* c = ensure_context(ctx);
    if (c == nullptr) return SMFIS_TEMPFAIL;
    MessageContext& m = c->message;
    const std::string_view argument = argv != nullptr && argv[0] != nullptr ? argv[0] : "";
    const EnvelopeReading reading =
        read_envelope_address(smfi_getsymval(ctx, const_cast<char*>("{mail_addr}")), argument, c->sender);
    // The sender as written, when the MTA's reading came from its resolver (message_facts). A
    // routed form ('%', '!', a quoted '@') that cannot be read as written is refused: the MTA
    // queues it as written, and whether that is an own address cannot be told.
    const bool written = reading.status == AddressStatus::ok && reading.from_mta &&
                         parse_address(argument, c->written_sender) == AddressStatus::ok;
    const auto routed = [](std::string_view text) {
        return text.find_first_of("%!") != std::string_view::npos || std::count(text.begin(), text.end(), '@') > 1;
    };
    // Routed as written, not in the MTA's reading: its resolver rewrote it.
    const bool routed_unread = reading.status == AddressStatus::ok && reading.from_mta && !written &&
                               routed(argument) && !routed(c->sender.text());
    const bool parsed = reading.status == AddressStatus::ok && !routed_unread;
    set_log_address(m.sender_log, parsed ? c->sender.text() : argument, parsed);
    // Postfix and Sendmail send {auth_authen} with MAIL FROM, not with RCPT TO.
    const bool authenticated = macro(ctx, "{auth_authen}")[0] != '\0';
    const bool tls = macro(ctx, "{tls_version}")[0] != '\0' || macro(ctx, "{cipher}")[0] != '\0';
    m.facts = c->policy->message_facts(c->client, authenticated, tls, parsed ? &c->sender : nullptr,
                                       static_cast<std::int64_t>(std::time(nullptr)),
                                       written ? &c->written_sender : nullptr);
    m.started = true;
    return no_reply_or(*c, SMFIP_NR_MAIL, SMFIS_CONTINUE);
}

// One line per refused or warned recipient (and, with milter.log_accepted, accepted one), Postfix
// style, naming the addresses as judged:
//   QUEUEID: reject: RCPT from host[ip]: 550 5.1.1 <rcpt>: text; from=<..> to=<..> rule=.. route=.. range=..
// (each value after to= through log_value: range="My computer", route="example.com (line 3)")
//   QUEUEID: warn: RCPT from host[ip]: would reject: 550 5.1.1 ...   (warn mode: nothing refused)
//   QUEUEID: accept: RCPT from host[ip]: from=<..> to=<..> rule=no-objection route=.. range=..
void log_decision(SMFICTX* ctx, const ConnectionContext& c, const Decision& d, const char* rcpt, const SmtpReply& reply,
                  const char* text) {
    const bool accepted = !d.rejects();
    const char* queue_id = macro(ctx, "i");
    char route[320] = "none";
    if (d.route)
        std::snprintf(route, sizeof route, "%.*s (line %u)", static_cast<int>(d.route.pattern.size()), d.route.pattern.data(),
                      d.route.line);
    const std::string_view rule = name_of(d.rule);
    const std::string_view cls = d.delivery_class ? name_of(*d.delivery_class) : std::string_view();
    const bool warned = d.warns();
    char head[max_quoted_address + 160] = "";
    if (!accepted) std::snprintf(head, sizeof head, "%s%s %s %s; ", warned ? "would reject: " : "", reply.code, reply.xcode, text);
    const std::string class_pair = d.delivery_class ? " class=" + log_value(cls) : std::string();
    log_line(LOG_INFO, "%s: %s: RCPT from %s: %sfrom=%s to=%s rule=%s route=%s range=%s%s",
             queue_id[0] != '\0' ? queue_id : "NOQUEUE", accepted ? "accept" : warned ? "warn" : "reject",
             c.client_label.c_str(), head, c.message.sender_log.c_str(), rcpt, log_value(rule).c_str(),
             log_value(route).c_str(), log_value(d.range != nullptr ? d.range->name : "none").c_str(),
             class_pair.c_str());
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    ConnectionContext* c = context_of(ctx);
    if (c == nullptr || !c->message.started || argv == nullptr || argv[0] == nullptr) {
        log_line(LOG_ERR, "RCPT without a MAIL FROM context; answering tempfail");
        if (c != nullptr && c->serving->counters != nullptr) {
            c->serving->counters->undecided.fetch_add(1, std::memory_order_relaxed);
            c->serving->counters->tempfails.fetch_add(1, std::memory_order_relaxed);
        }
        return SMFIS_TEMPFAIL;
    }
    const Decision d = c->policy->decide_recipient(c->message.facts, smfi_getsymval(ctx, const_cast<char*>("{rcpt_addr}")),
                                                   argv[0], c->recipient);
    c->serving->count(d);
    const bool log_accepted = c->policy->config().milter.log_accepted;
    if (!d.rejects() && !log_accepted) return SMFIS_CONTINUE;

    // The address judged, as it is logged and quoted back; the client's own text where none
    // could be read.
    const bool judged = d.rule != Rule::bad_address;
    const std::string_view rcpt = judged ? c->recipient.text() : std::string_view(argv[0]);
    set_log_address(c->rcpt_log, rcpt, judged);
    const SmtpReply reply = d.reply();
    char text[max_quoted_address + 128];
    format_reply_text(d.rule, rcpt, text, sizeof text);
    log_decision(ctx, *c, d, c->rcpt_log.c_str(), reply, text);
    if (!d.refuses()) return SMFIS_CONTINUE;
    // libmilter's prototype lacks const; it only copies the strings.
    if (smfi_setreply(ctx, const_cast<char*>(reply.code), const_cast<char*>(reply.xcode), text) != MI_SUCCESS) {
        log_line(LOG_ERR, "smfi_setreply failed for to=%s; answering tempfail", c->rcpt_log.c_str());
        if (c->serving->counters != nullptr) c->serving->counters->tempfails.fetch_add(1, std::memory_order_relaxed);
        return SMFIS_TEMPFAIL;
    }
    // A 4xx reply (the policy image unreadable) is a temporary failure: the client tries again.
    return reply.code[0] == '4' ? SMFIS_TEMPFAIL : SMFIS_REJECT;
}

sfsistat on_close(SMFICTX* ctx) {
    std::unique_ptr<ConnectionContext> owned(context_of(ctx));
    smfi_setpriv(ctx, nullptr);
    return SMFIS_CONTINUE;
}

}  // namespace

smfiDesc milter_description(Live<Serving>& live) {
    live_serving = &live;
    smfiDesc d{};
    d.xxfi_name = const_cast<char*>("route-milter");
    d.xxfi_version = SMFI_VERSION;
    d.xxfi_flags = 0;  // the milter never changes a message
    d.xxfi_connect = on_connect;
    d.xxfi_envfrom = on_envfrom;
    d.xxfi_envrcpt = on_envrcpt;
    d.xxfi_close = on_close;
    d.xxfi_negotiate = on_negotiate;
    return d;
}

}  // namespace route_milter
