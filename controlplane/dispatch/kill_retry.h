#pragma once

// A kill its node could not carry out (OpenVPN's management socket refused
// it, a WireGuard backend failed) is sent again: soon at first, then less
// often, so that a node that keeps failing is not hammered.

#include "absl/time/time.h"

namespace warden::control::dispatch {

// The wait after the `attempts`-th failed attempt (1-based): 1 s, 2 s, 4 s,
// ... doubling up to one minute.
absl::Duration KillRetryDelay(int attempts);

}  // namespace warden::control::dispatch
