// live_policy.hpp - the policy in force, swapped whole on reload.
//
// Connections take a snapshot (a shared_ptr) when they start and keep it to the end, so a
// reload never changes the rules under a transaction and the RCPT path never locks. Taking the
// snapshot (once per connection) and publishing (once per reload) hold a mutex for the time of
// a reference-count update: libstdc++ 12's std::atomic<std::shared_ptr> is a spin lock inside
// too, one ThreadSanitizer cannot see, while a mutex is plain to it.
#pragma once

#include "route_milter/core/policy.hpp"

#include <memory>
#include <mutex>

namespace route_milter {

// Live<T>: any immutable value published whole (the daemon publishes its policy together with
// what it counts per route); LivePolicy is the policy alone.
template <class T>
class Live {
public:
    explicit Live(std::shared_ptr<const T> initial) : current_(std::move(initial)) {}

    std::shared_ptr<const T> snapshot() const {
        const std::lock_guard<std::mutex> lock(mutex_);
        return current_;
    }

    // The old policy is released outside the lock (it may be large) once its last connection ends.
    void publish(std::shared_ptr<const T> next) {
        {
            const std::lock_guard<std::mutex> lock(mutex_);
            current_.swap(next);
        }
    }

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const T> current_;
};

using LivePolicy = Live<Policy>;

}  // namespace route_milter
