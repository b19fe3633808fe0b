#include "controlplane/families/refresh_rule.h"

#include <algorithm>

namespace warden::control::families {
namespace {

// Never tell a client to retry at once: it would only spin.
constexpr absl::Duration kMinRetry = absl::Milliseconds(50);

RefreshDecision Busy(absl::Duration wait) {
  return {RefreshVerdict::kLeaseBusy, std::max(wait, kMinRetry)};
}

}  // namespace

RefreshDecision DecideRefresh(const PresentedToken& token, absl::Time now, absl::Duration grace) {
  if (!token.found || !token.family_live) return {RefreshVerdict::kSessionMissing};
  if (!token.spent) {
    // The lease could not be taken: someone holds it. (A lease that ran out
    // would have been taken.)
    return Busy(token.lease_until - now);
  }
  if (token.same_request && token.has_sealed_result) return {RefreshVerdict::kRecover};
  // Another request of the same race that arrived just after the winner
  // finished (or a late duplicate of the winner): not a replay, but it gets
  // nothing, and must not come back with this token.
  if (now - token.rotated_at < grace) return {RefreshVerdict::kJustRotated};
  // Past the grace: the token is played back. (For the same request, its
  // result is gone because the newer token was used since.)
  return {RefreshVerdict::kReplay};
}

}  // namespace warden::control::families
