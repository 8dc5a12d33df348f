// retry_plan.hpp - hMailServer's per-route retry schedule, planned on a real mail queue. No I/O.
//
// Postfix has one global backoff and queue lifetime; routes want "R more attempts, M minutes
// apart, then return the message to its sender". plan_retries looks at a queue snapshot and
// the attempts already made, and says which deferred messages to attempt now (kick) and which
// have used up their retries (expire). Rules:
//  - Only deferred messages whose pending recipients all have a route are planned; the others
//    follow the MTA's own schedule. Several routes: the most patient (longest R*M) decides.
//  - A message with a recipient of an ETRN route is never planned: it is held until ETRN (as
//    hMailServer keeps it on hold), and only the MTA's queue lifetime can return it.
//  - Attempt k (1..R) is due at arrival + k*M minutes, and never sooner than M minutes after
//    the previous one this planner made.
//  - After R attempts, a message still deferred at least `expire_grace` seconds after the last
//    one is expired. A lost state counts from zero: more attempts, never an early expiry.
#pragma once

#include "route_milter/core/mail_queue.hpp"
#include "route_milter/core/address.hpp"
#include "route_milter/core/route_table.hpp"
#include "route_milter/core/retry_state.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace route_milter {

enum class RetryActionKind { kick, expire };

struct RetryAction {
    RetryActionKind kind = RetryActionKind::kick;
    std::string queue_id;
    const RouteConfig* route = nullptr;  // the route whose schedule applies
    int attempt = 0;                      // kick: which attempt (1..retries); expire: attempts made
};

struct RetryPlan {
    std::vector<RetryAction> actions;  // in queue order
    RetryState next_state;             // what to remember once the actions are carried out
};

inline constexpr std::int64_t expire_grace = 60;

RetryPlan plan_retries(const QueueSnapshot& queue, const RetryState& state, std::int64_t now, const RouteTable& routes);

std::string_view name_of(RetryActionKind kind);

}  // namespace route_milter
