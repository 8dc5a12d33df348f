#include "route_milter/core/retry_plan.hpp"

namespace route_milter {
namespace {

// The route whose schedule the message follows, or nullptr when the MTA's own applies.
const RouteConfig* governing_route(const QueuedMessage& m, const RouteTable& routes, NormalizedAddress& scratch) {
    const RouteConfig* best = nullptr;
    for (const QueuedRecipient& r : m.recipients) {
        if (parse_address(r.address, scratch) != AddressStatus::ok || !scratch.has_domain()) return nullptr;
        const RouteConfig* route = routes.route_for_domain(scratch.domain());
        // ETRN routes hold their mail until the site asks for it: no kick would deliver it
        // (defer_transports), and no schedule may return it before then.
        if (route == nullptr || route->etrn) return nullptr;
        const long patience = static_cast<long>(route->retries) * route->retry_minutes;
        const long best_patience = best == nullptr ? -1 : static_cast<long>(best->retries) * best->retry_minutes;
        if (patience > best_patience || (patience == best_patience && route->retries > best->retries)) best = route;
    }
    return best;
}

}  // namespace

std::string_view name_of(RetryActionKind kind) { return kind == RetryActionKind::kick ? "kick" : "expire"; }

RetryPlan plan_retries(const QueueSnapshot& queue, const RetryState& state, std::int64_t now, const RouteTable& routes) {
    RetryPlan plan;
    NormalizedAddress scratch;
    for (const QueuedMessage& m : queue) {
        const RouteConfig* route = governing_route(m, routes, scratch);
        if (route == nullptr) continue;
        RetryRecord record{m.arrival_time, 0, 0};
        if (const auto it = state.find(m.queue_id); it != state.end() && it->second.arrival_time == m.arrival_time)
            record = it->second;
        if (m.queue_name == "deferred" && !m.forced_expire) {
            const std::int64_t interval = static_cast<std::int64_t>(route->retry_minutes) * 60;
            if (record.attempts < route->retries) {
                std::int64_t due = m.arrival_time + (record.attempts + 1) * interval;
                if (record.last_attempt != 0) due = std::max(due, record.last_attempt + interval);
                if (now >= due) {
                    ++record.attempts;
                    record.last_attempt = now;
                    plan.actions.push_back({RetryActionKind::kick, m.queue_id, route, record.attempts});
                }
            } else if (now >= record.last_attempt + expire_grace && now >= m.arrival_time + expire_grace) {
                plan.actions.push_back({RetryActionKind::expire, m.queue_id, route, record.attempts});
            }
        }
        plan.next_state.emplace(m.queue_id, record);
    }
    return plan;
}

}  // namespace route_milter
