// milter_metrics.hpp - everything /metrics reports, and its rendering in Prometheus' text format.
//
// NAME
//   MilterMetrics - the daemon's counters (decisions, connections, reloads) and the page a
//   scrape gets (render).
// DESCRIPTION
//   render() reads the counters with relaxed loads and the policy in force (routes, listed
//   addresses, ranges, digest, modes) from the Serving it is given; process metrics come from
//   /proc/self (statm, stat, fd) and getrlimit. It runs in the HTTP server's thread, never in a
//   milter callback. Series of route_milter_decisions_total appear once they count (see
//   decision_counters.hpp for the cardinality).
// DIAGNOSTICS
//   A /proc file that cannot be read leaves its metric out of the page (ProtectProc= may hide
//   some); the rest is still served.
#pragma once

#include "decision_counters.hpp"

#include <atomic>
#include <cstdint>
#include <string>

namespace route_milter {

class MilterMetrics {
public:
    MilterMetrics();

    DecisionCounters counters;

    // A SIGHUP reload's outcome (the start-up load counts as the first success, not as a reload).
    void reload_done(bool ok);

    std::string render(const Serving& serving) const;

private:
    double start_time_;  // seconds since the epoch, taken at construction (main's start)
    std::atomic<std::uint64_t> reloads_ok_{0};
    std::atomic<std::uint64_t> reloads_failed_{0};
    std::atomic<bool> last_reload_ok_{true};
    std::atomic<double> last_success_;
};

}  // namespace route_milter
