// decision_counters.cpp - slots per route pattern; see decision_counters.hpp.
#include "decision_counters.hpp"

#include <algorithm>

namespace route_milter {

DecisionCounters::DecisionCounters() {
    no_route_ = slots_.emplace_back(std::make_unique<Slot>("none")).get();
    no_route_->holders.store(1, std::memory_order_relaxed);  // for ever: every Serving counts into it
}

std::vector<DecisionCounters::Slot*> DecisionCounters::slots_for(const Policy& policy) {
    std::vector<Slot*> out;
    out.reserve(policy.route_count());
    const std::lock_guard<std::mutex> lock(mutex_);
    for (std::uint32_t i = 0; i < policy.route_count(); ++i) {
        const std::string_view pattern = policy.route(i).pattern;
        const auto found = by_pattern_.find(pattern);
        Slot* slot = found != by_pattern_.end() ? found->second : nullptr;
        if (slot == nullptr) {
            slot = slots_.emplace_back(std::make_unique<Slot>(std::string(pattern))).get();
            by_pattern_.emplace(slot->route, slot);
        }
        slot->holders.fetch_add(1, std::memory_order_relaxed);
        out.push_back(slot);
    }
    return out;
}

void DecisionCounters::drop_unheld() {
    const std::lock_guard<std::mutex> lock(mutex_);
    std::erase_if(slots_, [&](const std::unique_ptr<Slot>& s) {
        // acquire: the counts a connection added before it gave its Serving back are seen here.
        if (s->holders.load(std::memory_order_acquire) != 0) return false;
        for (const auto& n : s->counts) removed_ += n.load(std::memory_order_relaxed);
        by_pattern_.erase(s->route);
        return true;
    });
}

Serving::~Serving() {
    // release: this Serving's counts happen before drop_unheld sees the slot unheld.
    for (DecisionCounters::Slot* s : route_slots) s->holders.fetch_sub(1, std::memory_order_acq_rel);
}

std::shared_ptr<const Serving> make_serving(std::shared_ptr<const Policy> policy, DecisionCounters* counters) {
    auto serving = std::make_shared<Serving>();
    if (counters != nullptr) {
        serving->route_slots = counters->slots_for(*policy);
        serving->no_route = counters->no_route();
        serving->counters = counters;
    }
    serving->policy = std::move(policy);
    return serving;
}

}  // namespace route_milter
