#pragma once

// The refresh rule: what a presented refresh token gets, from what the
// database says about it. Pure, so every outcome is unit-tested without a
// database (SessionService.Refresh in session.proto documents them).

#include "absl/time/time.h"
#include "controlplane/model/family.h"

namespace warden::control::families {

// What the store found for a presented refresh token whose renewal lease it
// could not take.
using model::PresentedToken;

enum class RefreshVerdict {
  kSessionMissing,  // UNAUTHENTICATED
  kLeaseBusy,       // ABORTED, retry after `retry_after`
  // ABORTED without a retry hint: another request rotated this token a
  // moment ago. Retrying the spent token later would be a replay; the client
  // must use what that request received.
  kJustRotated,
  kRecover,  // the same request retried: its sealed result
  kReplay,   // revoke the family and kill its tunnels
};

struct RefreshDecision {
  RefreshVerdict verdict = RefreshVerdict::kSessionMissing;
  absl::Duration retry_after = absl::ZeroDuration();
};

// `grace`: how long after a rotation a different request presenting the
// spent token is taken for a loser of the same race (LEASE_UNAVAILABLE)
// rather than a replay; the renewal lease's length.
RefreshDecision DecideRefresh(const PresentedToken& token, absl::Time now, absl::Duration grace);

}  // namespace warden::control::families
