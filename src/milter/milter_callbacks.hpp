// milter_callbacks.hpp - libmilter callbacks: translate MTA events into policy decisions.
//
// One ConnectionContext per MTA connection (created at negotiation, freed at close) pins the
// policy snapshot in force when the connection began; its message part is reset at MAIL FROM.
#pragma once

#include "route_milter/core/live_policy.hpp"

#include <libmilter/mfapi.h>

namespace route_milter {

// The filter description to register with smfi_register; callbacks read policies from `live`,
// which must outlive smfi_main.
smfiDesc milter_description(LivePolicy& live);

}  // namespace route_milter
