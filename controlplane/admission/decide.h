#pragma once

// The admission rule, free of I/O: given a user's limits and the sessions the
// user holds anywhere in the fleet, may one more session open, and at whose
// expense? The store runs this inside the transaction that holds the user's
// row lock, so its inputs cannot change underneath it.

#include <span>

#include "absl/time/time.h"
#include "controlplane/model/admission.h"

namespace warden::control::admission {

using model::Decision;
using model::DenyReason;
using model::LiveSession;
using model::UserLimits;

// `node_draining`: the node asking admits no one.
Decision Decide(const UserLimits& limits, std::span<const LiveSession> live, bool node_draining,
                absl::Time now);

}  // namespace warden::control::admission
