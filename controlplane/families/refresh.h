#pragma once

// One use of a refresh token (SessionService.Refresh in session.proto
// documents the outcomes): take the token's renewal lease and rotate it; or
// find out why not, which refresh_rule.h decides; a replay revokes the whole
// family and kills every tunnel opened under it. The decisions along the way
// are the pure functions below; Refresher only calls the store in order.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controlplane/families/refresh_rule.h"
#include "controlplane/store/family_store.h"

namespace warden::control::families {

// Every family token is a prefix and 64 hex digits (common/secrets.h).
inline constexpr char kAccessTokenPrefix[] = "wat_";
inline constexpr char kRefreshTokenPrefix[] = "wrt_";

// What the caller is told besides the status (the `warden-refresh-outcome`
// trailer).
enum class RefreshOutcome { kRotated, kLeaseUnavailable, kSessionMissing, kTokenMismatch };

// The tokens of a rotation: new, or recovered for a retry of its request.
struct RotatedLogin {
  std::string access_token;
  std::string refresh_token;
  std::string family_id;
  absl::Time access_expires_at;
  bool recovered = false;
};

struct RefreshAnswer {
  RefreshOutcome outcome = RefreshOutcome::kSessionMissing;
  // OK exactly when kRotated; otherwise what the caller is told.
  absl::Status status;
  // While another request holds the lease: when to retry, in whole
  // milliseconds rounded up (the `retry-after-ms` trailer).
  std::optional<int64_t> retry_after_ms;
  RotatedLogin login;  // kRotated
};

// --- the pure pieces -------------------------------------------------------

RefreshAnswer Rotated(RotatedLogin login);
// An unknown, revoked or expired login; read the same whichever it is.
RefreshAnswer SessionMissing();
// Another request of this token holds its lease for `wait` more.
RefreshAnswer LeaseBusy(absl::Duration wait);
// The answer to a verdict that needs no more work (missing, busy, just
// rotated); nullopt for kRecover and kReplay.
std::optional<RefreshAnswer> AnswerWithoutWork(const RefreshDecision& decision);
// The answer when the store refused to rotate a leased token: the lease ran
// out meanwhile (ABORTED: busy for `lease`), or the family was revoked
// (FAILED_PRECONDITION: missing). Any other error is the caller's error.
absl::StatusOr<RefreshAnswer> AnswerToFailedRotation(const absl::Status& status,
                                                     absl::Duration lease);
// A replayed token's family is revoked: told so, whether this request or a
// concurrent replay revoked it.
RefreshAnswer TokenMismatch();
// Whether a revocation that failed with `status` after `attempts` tries is
// tried again: a deadlock victim (a refresh or an admission of the same
// family at the same moment) is, a few times, since the revocation must
// happen.
bool RetryRevocation(const absl::Status& status, int attempts);

// A rotation's result as kept for a retry of the same request, and back.
std::string SealRotation(const RotatedLogin& login, absl::string_view refresh_token,
                         absl::string_view request_id);
// nullopt when the box does not open for this token and request_id, or holds
// no result.
std::optional<RotatedLogin> OpenRotation(absl::string_view sealed, absl::string_view refresh_token,
                                         absl::string_view request_id);

// --- the operation ---------------------------------------------------------

struct RefreshInput {
  std::string refresh_token;  // well-formed (kRefreshTokenPrefix + 64 hex)
  std::string request_id;     // well-formed, see SessionService
};

class Refresher {
 public:
  // Revokes a replayed token's family and kills the tunnels opened under it
  // (dispatch::Commands::RevokeFamily, which also starts their delivery).
  using RevokeFamily =
      std::function<absl::StatusOr<store::FamilyRevocation>(const std::string& family_id)>;

  Refresher(store::FamilyStore& families, const Clock& clock, RevokeFamily revoke)
      : families_(families), clock_(clock), revoke_(std::move(revoke)) {}

  // Call from a database worker. An error status is a fault (the database),
  // not an outcome.
  absl::StatusOr<RefreshAnswer> Refresh(const RefreshInput& input);

 private:
  absl::StatusOr<RefreshAnswer> Rotate(const RefreshInput& input, const std::string& family_id,
                                       const std::string& token_hash,
                                       const std::string& request_hash);
  absl::StatusOr<RefreshAnswer> RevokeReplayed(const store::RefreshLease& lease);

  store::FamilyStore& families_;
  const Clock& clock_;
  const RevokeFamily revoke_;
};

}  // namespace warden::control::families
