// live_policy.hpp - the policy in force, swapped whole on reload.
//
// Connections take a snapshot (a shared_ptr) when they start and keep it to the end, so a
// reload never changes the rules under a transaction and the RCPT path never locks.
#pragma once

#include "route_milter/policy.hpp"

#include <memory>
#include <string>

namespace route_milter {

class LivePolicy {
public:
    explicit LivePolicy(std::shared_ptr<const Policy> initial) : current_(std::move(initial)) {}

    std::shared_ptr<const Policy> snapshot() const { return current_.load(std::memory_order_acquire); }
    void publish(std::shared_ptr<const Policy> next) { current_.store(std::move(next), std::memory_order_release); }

private:
    std::atomic<std::shared_ptr<const Policy>> current_;
};

// Loads and compiles `path` completely; on success publishes it, on failure logs every error
// and leaves the running policy alone. Returns whether the new policy is in force.
bool reload_policy(LivePolicy& live, const std::string& path);

}  // namespace route_milter
