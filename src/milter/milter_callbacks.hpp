// milter_callbacks.hpp - libmilter callbacks: translate MTA events into policy decisions.
//
// One ConnectionContext per MTA connection (created at negotiation, freed at close) pins the
// policy snapshot in force when the connection began (with its counter slots); its message
// part is reset at MAIL FROM.
#pragma once

#include "decision_counters.hpp"
#include "route_milter/core/live_policy.hpp"

#include <libmilter/mfapi.h>

namespace route_milter {

// The filter description to register with smfi_register; callbacks read policies (and where
// to count their decisions) from `live`, which must outlive smfi_main.
smfiDesc milter_description(Live<Serving>& live);

}  // namespace route_milter
