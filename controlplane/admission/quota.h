#pragma once

// Whether a user's data quota lets one more session open, and at what rate.
// Used up means the window's bytes reached the quota plus what support
// granted. The enforcement's hold is not consulted: it follows the same
// ledger, and releasing a held user (restoring a throttled tunnel's
// bandwidth) is the ledger's to do. Then
// DENY refuses; THROTTLE admits a QUIC tunnel at the throttle rate, since
// Warden shapes only its own QUIC endpoint per user, and refuses WireGuard
// and OpenVPN, which it cannot slow down. Pure: no I/O, no clock.

#include <cstdint>
#include <optional>
#include <string>

#include "controlplane/model/admission.h"

namespace warden::control::admission {

bool QuotaUsedUp(const model::UserLimits& limits, const model::QuotaFacts& quota);

// For a user whose quota is used up: the rate a session of `protocol` may
// have, or nullopt when it may not open. A throttle never raises the user's
// own bandwidth cap, and a THROTTLE without a throttle rate refuses.
std::optional<int64_t> ThrottledBandwidth(const model::UserLimits& limits,
                                          model::Protocol protocol);

// The sentence a refused user reads: the quota is used up, and when it
// frees up (the next month, or day by day for a rolling window).
std::string QuotaUsedUpMessage(const model::UserLimits& limits, const model::QuotaFacts& quota);

// For administrators: the bytes behind the verdict.
std::string QuotaUsedUpDetail(const model::UserLimits& limits, const model::QuotaFacts& quota);

}  // namespace warden::control::admission
