#pragma once

// The refresh rule: what a presented refresh token gets, from what the
// database says about it. Pure, so every outcome is unit-tested without a
// database (SessionService.Refresh in session.proto documents them).

#include "absl/time/time.h"

namespace warden::control::families {

// What the store found for a presented refresh token whose renewal lease it
// could not take.
struct PresentedToken {
  bool found = false;
  // The family is not revoked, not past its lifetime or idle timeout, and
  // its user is enabled.
  bool family_live = false;
  bool spent = false;  // rotated before
  absl::Time lease_until = absl::InfinitePast();
  absl::Time rotated_at = absl::InfinitePast();
  // The lease (or the rotation) was taken by a request with the same
  // request_id as this one.
  bool same_request = false;
  // The rotation's result is still kept, sealed for its request; it is
  // dropped once the newer refresh token is itself spent.
  bool has_sealed_result = false;
};

enum class RefreshVerdict {
  kSessionMissing,  // UNAUTHENTICATED
  kLeaseBusy,       // ABORTED, retry after `retry_after`
  // ABORTED without a retry hint: another request rotated this token a
  // moment ago. Retrying the spent token later would be a replay; the client
  // must use what that request received.
  kJustRotated,
  kRecover,  // the same request retried: its sealed result
  kReplay,          // revoke the family and kill its tunnels
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
