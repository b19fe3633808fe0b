#pragma once

// The admission rule, free of I/O: given a user's limits and the sessions the
// user holds anywhere in the fleet, may one more session open, and at whose
// expense? The store runs this inside the transaction that holds the user's
// row lock, so its inputs cannot change underneath it.

#include <optional>
#include <span>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controlplane/model/admission.h"

namespace warden::control::admission {

using model::AdmissionFacts;
using model::Decision;
using model::DenyReason;
using model::LiveSession;
using model::TicketFacts;
using model::UserLimits;
using model::Vouching;

struct DecideOptions {
  // Whether the message a refused user reads names the nodes that hold the
  // user's seats. Off by default: node names are the operator's business;
  // administrators always find them in the audit log (Decision::detail).
  bool detailed_messages = false;
};

// In order: a connect ticket whose login ended, or that another user holds,
// admits nobody; a connection being killed is not let in again; a live session
// asked about again is the same answer (if its user and login are still
// good); a node vouching for the user must be entitled to; a draining node
// admits no one; a disabled or expired account, an expired device, a
// protocol or a node the user's policy does not include are refused; a used
// up data quota refuses, or throttles a QUIC tunnel (see quota.h); then
// the caps, per node, per label value and fleet-wide (see seats.h:
// EVICT_OLDEST evicts the oldest seats of the full scope, REJECT refuses).
// Another user's live session under the same key is replaced: the node
// reused it. An admitted decision also says whether the user's idle
// WireGuard devices are withheld (WithholdsIdleDevices), and the session's
// bandwidth.
Decision Decide(const AdmissionFacts& facts, absl::Time now, const DecideOptions& options = {});

// Whether a connect ticket is presented for someone else: the node named a
// user along with it, and the ticket's holder is another.
bool TicketBelongsToAnother(absl::string_view named_username, absl::string_view holder_username);

// Whether admitting one more session brings a REJECT user to its fleet
// limit: its WireGuard devices without a live session are then withheld (an
// idle peer would let a device in past the limit, with no admission to
// refuse it).
bool WithholdsIdleDevices(const UserLimits& limits, std::span<const LiveSession> live);

}  // namespace warden::control::admission
