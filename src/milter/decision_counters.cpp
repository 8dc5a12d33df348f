// decision_counters.cpp - slots per route pattern; see decision_counters.hpp.
#include "decision_counters.hpp"

#include <malloc.h>

namespace route_milter {

DecisionCounters::DecisionCounters() { no_route_ = &slots_.emplace_back("none"); }

std::vector<DecisionCounters::Slot*> DecisionCounters::slots_for(const Config& config) {
    std::vector<Slot*> out;
    out.reserve(config.routes.size());
    const std::lock_guard<std::mutex> lock(mutex_);
    for (const RouteConfig& r : config.routes) {
        Slot*& slot = by_pattern_[r.pattern.text()];
        if (slot == nullptr) slot = &slots_.emplace_back(r.pattern.text());
        out.push_back(slot);
    }
    return out;
}

Serving::~Serving() {
    if (!policy || policy.use_count() != 1) return;
    const Config& c = policy->config();
    const bool big = c.routes.size() >= 1000 || policy->listed_address_count() >= 100000;
    policy.reset();
    if (big) malloc_trim(0);
}

std::shared_ptr<const Serving> make_serving(std::shared_ptr<const Policy> policy, DecisionCounters* counters) {
    auto serving = std::make_shared<Serving>();
    if (counters != nullptr) {
        serving->route_slots = counters->slots_for(policy->config());
        serving->no_route = counters->no_route();
        serving->counters = counters;
    }
    serving->policy = std::move(policy);
    return serving;
}

}  // namespace route_milter
