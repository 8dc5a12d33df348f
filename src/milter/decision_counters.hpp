// decision_counters.hpp - what the milter decided, counted per route pattern, rule and mode.
//
// NAME
//   DecisionCounters, Serving - the counters behind route_milter_decisions_total, and the
//   policy published together with the counter slots of its routes.
// DESCRIPTION
//   One slot per route pattern of a policy in use ("none" for recipients without a route): a
//   fixed array of relaxed atomics indexed by (rule, mode). Slots never move, so a reload only
//   adds the slots of new patterns and a pattern that survives a reload keeps counting where it
//   was; connections still on the old policy count into the same slots. Serving pairs a policy
//   with its routes' slot pointers (built off the RCPT path, at start and reload) and is
//   published whole, so the RCPT path finds its slot by route index: no lock, no allocation,
//   no I/O.
//
//   Each slot counts the Servings that point at it. Once none does (the reload that removed its
//   pattern is over and the last connection that started under an older policy has closed),
//   drop_unheld frees it at the next reload: its series leaves the page (Prometheus marks it
//   stale, as for any label value that goes away) and its counts stay in route_milter_rcpt_total,
//   which never goes down. Folding them into a series of their own would make that series jump by
//   the removed route's whole history, a burst rate() would report that never happened.
//
//   Cardinality and memory follow the policies in use, not the history: a scrape shows only the
//   (route, rule, mode) series that counted at least once, so a config of 10^5 routes shows the
//   routes that decided since their pattern came, each with at most the rules that reached it.
//   160 bytes of counters per pattern (10 rules x 2 modes), 16 MB for 10^5 routes, held only
//   when metrics are configured; route names churned through reloads are given back.
// DIAGNOSTICS
//   None: a Serving without counters (metrics off) counts nothing.
#pragma once

#include "route_milter/core/policy.hpp"
#include "route_milter/core/rule_names.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace route_milter {

inline constexpr std::size_t mode_count = mode_names.size();

class DecisionCounters {
public:
    struct Slot {
        explicit Slot(std::string r) : route(std::move(r)) {}
        const std::string route;  // the route's domain pattern, or "none"
        std::array<std::atomic<std::uint64_t>, rule_names.size() * mode_count> counts{};
        // Servings whose route_slots point here (taken under the registry's mutex, given back by
        // ~Serving without it).
        std::atomic<std::uint32_t> holders{0};

        static constexpr std::size_t index(Rule rule, Mode mode) {
            return static_cast<std::size_t>(rule) * mode_count + static_cast<std::size_t>(mode);
        }
    };

    DecisionCounters();

    // The slot of each route of `policy` (by index), creating those of new patterns; each is
    // held once more (the caller's Serving gives it back).
    std::vector<Slot*> slots_for(const Policy& policy);
    Slot* no_route() { return no_route_; }

    // Frees the slots no Serving holds any more (their routes are gone from every policy in
    // use); their counts are kept in one sum (for_each returns it). Off the RCPT path: after a
    // reload.
    void drop_unheld();

    // Calls fn(const Slot&) for every slot, in the order they were created (scrapes only), and
    // returns what the dropped slots had counted, at the same instant: their series are gone, and
    // route_milter_rcpt_total, which adds both, never goes down.
    template <class Fn>
    std::uint64_t for_each(Fn&& fn) const {
        const std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& s : slots_) fn(*s);
        return removed_;
    }

    std::atomic<std::uint64_t> connections{0};
    std::atomic<std::uint64_t> tempfails{0};  // RCPTs answered 4xx by the milter itself (a fault)
    std::atomic<std::uint64_t> undecided{0};  // of those, RCPTs that reached no decision (no context)

private:
    mutable std::mutex mutex_;  // slot creation and dropping (start, reload) against scrapes; never the RCPT path
    std::vector<std::unique_ptr<Slot>> slots_;  // in creation order; a Slot never moves
    std::unordered_map<std::string_view, Slot*> by_pattern_;  // keys: the slots' own route strings
    Slot* no_route_ = nullptr;
    std::uint64_t removed_ = 0;  // under mutex_
};

// The policy in force and where its decisions are counted; published whole (Live<Serving>).
struct Serving {
    Serving() = default;
    Serving(const Serving&) = delete;
    Serving& operator=(const Serving&) = delete;
    ~Serving();

    std::shared_ptr<const Policy> policy;
    std::vector<DecisionCounters::Slot*> route_slots;  // by route index; empty when metrics are off
    DecisionCounters::Slot* no_route = nullptr;        // nullptr when metrics are off
    DecisionCounters* counters = nullptr;

    // Counts one decision. RCPT path: an index, one relaxed increment.
    void count(const Decision& d) const noexcept {
        if (no_route == nullptr) return;
        DecisionCounters::Slot* slot =
            d.route ? route_slots[d.route.index] : no_route;
        slot->counts[DecisionCounters::Slot::index(d.rule, d.mode)].fetch_add(1, std::memory_order_relaxed);
    }
};

// counters == nullptr: metrics are off, nothing is counted.
std::shared_ptr<const Serving> make_serving(std::shared_ptr<const Policy> policy, DecisionCounters* counters);

}  // namespace route_milter
