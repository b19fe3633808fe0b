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
  if (token.same_request) {
    if (token.has_sealed_result) return {RefreshVerdict::kRecover};
    // The same request's result is gone: the newer token was used since, so
    // this client moved on and an old request is being played back.
    return {RefreshVerdict::kReplay};
  }
  // Another request of the same race that arrived just after the winner
  // finished: not a replay, but it gets nothing either.
  if (now - token.rotated_at < grace) return Busy(token.rotated_at + grace - now);
  return {RefreshVerdict::kReplay};
}

}  // namespace warden::control::families
