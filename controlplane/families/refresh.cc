#include "controlplane/families/refresh.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/families/sealed_result.h"

namespace warden::control::families {
namespace {

const logging::Logger Log("control.sessions");

// Tries of a replay's revocation that lost a deadlock.
constexpr int kRevokeAttempts = 3;

}  // namespace

RefreshAnswer Rotated(RotatedLogin login) {
  return RefreshAnswer{.outcome = RefreshOutcome::kRotated,
                       .status = absl::OkStatus(),
                       .retry_after_ms = std::nullopt,
                       .login = std::move(login)};
}

RefreshAnswer SessionMissing() {
  return RefreshAnswer{
      .outcome = RefreshOutcome::kSessionMissing,
      .status = absl::UnauthenticatedError(
          "SESSION_MISSING: the refresh token is not valid (unknown, revoked or expired login); "
          "log in again"),
      .retry_after_ms = std::nullopt,
      .login = {}};
}

RefreshAnswer LeaseBusy(absl::Duration wait) {
  const int64_t wait_ms = absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1)));
  return RefreshAnswer{
      .outcome = RefreshOutcome::kLeaseUnavailable,
      .status = absl::AbortedError(
          absl::StrCat("LEASE_UNAVAILABLE: another refresh of this token is in progress; retry in ",
                       wait_ms, " ms with the same request_id")),
      .retry_after_ms = wait_ms,
      .login = {}};
}

std::optional<RefreshAnswer> AnswerWithoutWork(const RefreshDecision& decision) {
  switch (decision.verdict) {
    case RefreshVerdict::kSessionMissing:
      return SessionMissing();
    case RefreshVerdict::kLeaseBusy:
      return LeaseBusy(decision.retry_after);
    case RefreshVerdict::kJustRotated:
      return RefreshAnswer{
          .outcome = RefreshOutcome::kLeaseUnavailable,
          .status = absl::AbortedError(
              "LEASE_UNAVAILABLE: another request rotated this refresh token a moment ago; do not "
              "retry with it (that would be taken for a replay): use the tokens that request "
              "received"),
          .retry_after_ms = std::nullopt,
          .login = {}};
    case RefreshVerdict::kRecover:
    case RefreshVerdict::kReplay:
      return std::nullopt;
  }
  return std::nullopt;
}

absl::StatusOr<RefreshAnswer> AnswerToFailedRotation(const absl::Status& status,
                                                     absl::Duration lease) {
  if (status.code() == absl::StatusCode::kAborted) return LeaseBusy(lease);
  if (status.code() == absl::StatusCode::kFailedPrecondition) return SessionMissing();
  return status;
}

RefreshAnswer TokenMismatch() {
  return RefreshAnswer{
      .outcome = RefreshOutcome::kTokenMismatch,
      .status = absl::UnauthenticatedError(
          "REFRESH_TOKEN_MISMATCH: this refresh token was already used; the login is revoked and "
          "its tunnels are closed. Log in again"),
      .retry_after_ms = std::nullopt,
      .login = {}};
}

bool RetryRevocation(const absl::Status& status, int attempts) {
  return status.code() == absl::StatusCode::kAborted && attempts < kRevokeAttempts;
}

std::string SealRotation(const RotatedLogin& login, absl::string_view refresh_token,
                         absl::string_view request_id) {
  const nlohmann::json result = {
      {"access_token", login.access_token},
      {"refresh_token", login.refresh_token},
      {"access_expires_us", absl::ToUnixMicros(login.access_expires_at)}};
  return SealResult(result.dump(), refresh_token, request_id);
}

std::optional<RotatedLogin> OpenRotation(absl::string_view sealed, absl::string_view refresh_token,
                                         absl::string_view request_id) {
  absl::StatusOr<std::string> opened = OpenResult(sealed, refresh_token, request_id);
  if (!opened.ok()) return std::nullopt;
  const nlohmann::json result = nlohmann::json::parse(*opened, nullptr, false);
  if (!result.is_object()) return std::nullopt;
  return RotatedLogin{
      .access_token = result.value("access_token", ""),
      .refresh_token = result.value("refresh_token", ""),
      .family_id = "",
      .access_expires_at = absl::FromUnixMicros(result.value("access_expires_us", int64_t{0})),
      .recovered = true};
}

absl::StatusOr<RefreshAnswer> Refresher::Refresh(const RefreshInput& input) {
  const std::string token_hash = secrets::Sha256Hex(input.refresh_token);
  const std::string request_hash = secrets::Sha256Hex(input.request_id);
  WARDEN_ASSIGN_OR_RETURN(store::RefreshLease lease,
                          families_.TakeRefreshLease(token_hash, request_hash));
  if (lease.acquired) return Rotate(input, lease.family_id, token_hash, request_hash);

  // The lease and the rotation were stamped by the database: compared with
  // its clock, not this replica's.
  const RefreshDecision decision =
      DecideRefresh(lease.token, lease.token.observed_at, families_.policy().refresh_lease);
  if (std::optional<RefreshAnswer> answer = AnswerWithoutWork(decision)) return *answer;
  if (decision.verdict == RefreshVerdict::kReplay) return RevokeReplayed(lease);
  std::optional<RotatedLogin> recovered =
      OpenRotation(lease.sealed_result, input.refresh_token, input.request_id);
  if (!recovered) return SessionMissing();
  recovered->family_id = lease.family_id;
  return Rotated(*std::move(recovered));
}

absl::StatusOr<RefreshAnswer> Refresher::Rotate(const RefreshInput& input,
                                                const std::string& family_id,
                                                const std::string& token_hash,
                                                const std::string& request_hash) {
  RotatedLogin login{.access_token = secrets::NewToken(kAccessTokenPrefix),
                     .refresh_token = secrets::NewToken(kRefreshTokenPrefix),
                     .family_id = family_id,
                     // What a retry recovers; the answer itself carries the stored expiry.
                     .access_expires_at = clock_.Now() + families_.policy().access_ttl,
                     .recovered = false};
  absl::StatusOr<store::RotatedTokens> rotated = families_.Rotate(
      family_id, token_hash, request_hash,
      SealRotation(login, input.refresh_token, input.request_id),
      secrets::Sha256Hex(login.refresh_token), secrets::Sha256Hex(login.access_token));
  if (!rotated.ok()) {
    return AnswerToFailedRotation(rotated.status(), families_.policy().refresh_lease);
  }
  login.access_expires_at = rotated->access_expires_at;
  return Rotated(std::move(login));
}

absl::StatusOr<RefreshAnswer> Refresher::RevokeReplayed(const store::RefreshLease& lease) {
  absl::StatusOr<store::FamilyRevocation> revoked;
  int attempts = 0;
  do {
    revoked = revoke_(lease.family_id);
    ++attempts;
  } while (!revoked.ok() && RetryRevocation(revoked.status(), attempts));
  if (revoked.ok()) {
    Log()->warn("refresh token replayed: family={} user={} revoked, {} tunnels killed",
                lease.family_id, lease.user_id, revoked->kills.size());
  } else if (revoked.status().code() != absl::StatusCode::kFailedPrecondition) {
    return revoked.status();  // (FAILED_PRECONDITION: a concurrent replay revoked it already)
  }
  return TokenMismatch();
}

}  // namespace warden::control::families
