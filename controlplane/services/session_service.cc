#include "controlplane/services/session_service.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/families/refresh_rule.h"
#include "controlplane/families/sealed_result.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/unary.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {
namespace {

constexpr char kAccessPrefix[] = "wat_";
constexpr char kRefreshPrefix[] = "wrt_";
constexpr char kTicketPrefix[] = "wct_";
constexpr absl::Duration kMaxCallDuration = absl::Seconds(30);
constexpr char kOutcomeKey[] = "warden-refresh-outcome";

const std::shared_ptr<spdlog::logger>& Log() {
  static const auto log = logging::Get("control.sessions");
  return log;
}

absl::Status CheckToken(absl::string_view field, absl::string_view token,
                        absl::string_view prefix) {
  if (secrets::LooksLikeToken(token, prefix)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be \"", prefix, "\" followed by 64 lowercase hex digits"));
}

// The request_id is half of the key that seals a rotation's result for a
// retry: it must be unguessable, not a counter.
absl::Status CheckRequestId(absl::string_view request_id) {
  bool valid = request_id.size() >= 32 && request_id.size() <= 64;
  for (char c : request_id) valid = valid && (absl::ascii_isalnum(c) || c == '-' || c == '_');
  if (valid) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "request_id must be 32 to 64 characters of A-Z, a-z, 0-9, '-' and '_' carrying at least "
      "128 random bits (e.g. 32 random hex digits), new for each refresh and sent again "
      "unchanged when the client retries it");
}

absl::Status BadLogin() { return absl::UnauthenticatedError("unknown user or wrong password"); }

absl::Status SessionMissing() {
  return absl::UnauthenticatedError(
      "SESSION_MISSING: the refresh token is not valid (unknown, revoked or expired login); "
      "log in again");
}

// RESOURCE_EXHAUSTED with `retry-after` (whole seconds, rounded up, as in
// HTTP) in the trailing metadata.
absl::Status Throttled(grpc::CallbackServerContext* ctx, const families::ThrottleVerdict& verdict) {
  const int64_t seconds =
      std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(verdict.retry_after, absl::Seconds(1))));
  ctx->AddTrailingMetadata("retry-after", std::to_string(seconds));
  return absl::ResourceExhaustedError(absl::StrCat(
      "too many login attempts ", verdict.by_username ? "for this username" : "from this address",
      "; retry after ", seconds, " seconds"));
}

}  // namespace

SessionService::SessionService(SessionDependencies deps)
    : deps_(deps),
      throttled_(deps.metrics.AddCounter("warden_logins_throttled_total",
                                         "Login attempts refused before any password check, by "
                                         "the bucket that was empty (username, address).",
                                         {"by"})) {
  throttled_.With({"username"});
  throttled_.With({"address"});
  auto& keys = deps.metrics.AddGauge(
      "warden_login_throttle_keys",
      "Usernames and addresses whose login bucket is still refilling (kept in memory).", {"by"});
  deps.metrics.OnScrape([throttle = &deps.throttle, users = &keys.With({"username"}),
                         addresses = &keys.With({"address"})] {
    const families::LoginThrottle::Stats stats = throttle->stats();
    users->Set(static_cast<double>(stats.usernames));
    addresses->Set(static_cast<double>(stats.addresses));
  });
  deps.metrics.AddCounterFunc(
      "warden_login_throttle_evictions_total",
      "Login buckets dropped while still refilling because their table was full.",
      [throttle = &deps.throttle] {
        const families::LoginThrottle::Stats stats = throttle->stats();
        return static_cast<double>(stats.username_evictions + stats.address_evictions);
      });
}

grpc::ServerUnaryReactor* SessionService::Login(grpc::CallbackServerContext* ctx,
                                                const v1::LoginRequest* request,
                                                v1::LoginResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  auto finish = [reactor](const absl::Status& status) { reactor->Finish(ToGrpcStatus(status)); };
  absl::StatusOr<std::string> username = NormalizeUsername("username", request->username());
  if (!username.ok()) return finish(username.status()), reactor;
  if (request->password().empty() || request->password().size() > kMaxPasswordBytes) {
    return finish(absl::InvalidArgumentError(
               absl::StrCat("password must be 1 to ", kMaxPasswordBytes, " bytes long"))),
           reactor;
  }
  if (absl::Status label = ValidateText("device_label", request->device_label(), 128, false);
      !label.ok()) {
    return finish(label), reactor;
  }
  const std::string peer = ctx->peer();
  const families::ThrottleVerdict verdict =
      deps_.throttle.Attempt(*username, families::ClientAddressKey(peer));
  if (!verdict.allowed) {
    throttled_.With({verdict.by_username ? "username" : "address"}).Increment();
    return finish(Throttled(ctx, verdict)), reactor;
  }
  const absl::Time deadline = DeadlineOf(ctx, kMaxCallDuration);
  const bool queued = deps_.db_workers.TrySubmit(
      [this, request, response, deadline, peer, finish, username = *std::move(username)]() mutable {
        deps_.passwords.Check(
            username, request->password(), deadline,
            [this, request, response, peer, username,
             finish](absl::StatusOr<admission::PasswordCheckResult> checked) mutable {
              if (!checked.ok()) return finish(checked.status());
              if (!checked->verified) return finish(BadLogin());
              deps_.throttle.Succeeded(username);
              if (checked->user->disabled) {
                return finish(absl::PermissionDeniedError(
                    absl::StrCat("user ", checked->user->username, " is disabled")));
              }
              finish(FinishLogin(checked->user->id, request->device_label(), peer, response));
            });
      });
  if (!queued) finish(OverloadedError());
  return reactor;
}

absl::Status SessionService::FinishLogin(const std::string& user_id,
                                         const std::string& device_label, const std::string& peer,
                                         v1::LoginResponse* response) {
  const std::string refresh = secrets::NewToken(kRefreshPrefix);
  const std::string access = secrets::NewToken(kAccessPrefix);
  WARDEN_ASSIGN_OR_RETURN(store::IssuedLogin issued,
                          deps_.families.Create(user_id, device_label, secrets::Sha256Hex(refresh),
                                                secrets::Sha256Hex(access), peer));
  response->set_access_token(access);
  response->set_refresh_token(refresh);
  response->set_family_id(issued.family_id);
  ToProto(issued.access_expires_at, response->mutable_access_expires_at());
  ToProto(issued.family_expires_at, response->mutable_family_expires_at());
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* SessionService::Refresh(grpc::CallbackServerContext* ctx,
                                                  const v1::RefreshRequest* request,
                                                  v1::RefreshResponse* response) {
  return FinishOnPool(ctx, deps_.db_workers, [this, ctx, request, response] {
    return RefreshOnWorker(ctx, *request, response);
  });
}

absl::Status SessionService::RefreshOnWorker(grpc::CallbackServerContext* ctx,
                                             const v1::RefreshRequest& request,
                                             v1::RefreshResponse* response) {
  WARDEN_RETURN_IF_ERROR(CheckToken("refresh_token", request.refresh_token(), kRefreshPrefix));
  WARDEN_RETURN_IF_ERROR(CheckRequestId(request.request_id()));
  const std::string token_hash = secrets::Sha256Hex(request.refresh_token());
  const std::string request_hash = secrets::Sha256Hex(request.request_id());
  auto outcome = [&](v1::RefreshOutcome value) {
    ctx->AddTrailingMetadata(kOutcomeKey, v1::RefreshOutcome_Name(value));
  };
  auto busy = [&](absl::Duration wait) {
    outcome(v1::LEASE_UNAVAILABLE);
    const int64_t wait_ms = absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1)));
    ctx->AddTrailingMetadata("retry-after-ms", std::to_string(wait_ms));
    return absl::AbortedError(
        absl::StrCat("LEASE_UNAVAILABLE: another refresh of this token is in progress; retry in ",
                     wait_ms, " ms with the same request_id"));
  };

  WARDEN_ASSIGN_OR_RETURN(store::RefreshLease lease,
                          deps_.families.TakeRefreshLease(token_hash, request_hash));
  if (lease.acquired) {
    const std::string refresh = secrets::NewToken(kRefreshPrefix);
    const std::string access = secrets::NewToken(kAccessPrefix);
    const absl::Time expected_expiry = absl::Now() + deps_.families.policy().access_ttl;
    const nlohmann::json result = {{"access_token", access},
                                   {"refresh_token", refresh},
                                   {"access_expires_us", absl::ToUnixMicros(expected_expiry)}};
    absl::StatusOr<store::RotatedTokens> rotated = deps_.families.Rotate(
        lease.family_id, token_hash, request_hash,
        families::SealResult(result.dump(), request.refresh_token(), request.request_id()),
        secrets::Sha256Hex(refresh), secrets::Sha256Hex(access));
    if (!rotated.ok() && rotated.status().code() == absl::StatusCode::kAborted) {
      return busy(deps_.families.policy().refresh_lease);
    }
    if (!rotated.ok() && rotated.status().code() == absl::StatusCode::kFailedPrecondition) {
      outcome(v1::SESSION_MISSING);
      return SessionMissing();
    }
    if (!rotated.ok()) return rotated.status();
    outcome(v1::ROTATED);
    response->set_outcome(v1::ROTATED);
    response->set_access_token(access);
    response->set_refresh_token(refresh);
    response->set_family_id(lease.family_id);
    ToProto(rotated->access_expires_at, response->mutable_access_expires_at());
    return absl::OkStatus();
  }

  const families::RefreshDecision decision =
      families::DecideRefresh(lease.token, absl::Now(), deps_.families.policy().refresh_lease);
  switch (decision.verdict) {
    case families::RefreshVerdict::kSessionMissing:
      outcome(v1::SESSION_MISSING);
      return SessionMissing();
    case families::RefreshVerdict::kLeaseBusy:
      return busy(decision.retry_after);
    case families::RefreshVerdict::kJustRotated:
      outcome(v1::LEASE_UNAVAILABLE);
      return absl::AbortedError(
          "LEASE_UNAVAILABLE: another request rotated this refresh token a moment ago; do not "
          "retry with it (that would be taken for a replay): use the tokens that request "
          "received");
    case families::RefreshVerdict::kRecover: {
      absl::StatusOr<std::string> opened =
          families::OpenResult(lease.sealed_result, request.refresh_token(), request.request_id());
      const nlohmann::json result =
          opened.ok() ? nlohmann::json::parse(*opened, nullptr, false) : nlohmann::json();
      if (!result.is_object()) {
        outcome(v1::SESSION_MISSING);
        return SessionMissing();
      }
      outcome(v1::ROTATED);
      response->set_outcome(v1::ROTATED);
      response->set_recovered(true);
      response->set_access_token(result.value("access_token", ""));
      response->set_refresh_token(result.value("refresh_token", ""));
      response->set_family_id(lease.family_id);
      ToProto(absl::FromUnixMicros(result.value("access_expires_us", int64_t{0})),
              response->mutable_access_expires_at());
      return absl::OkStatus();
    }
    case families::RefreshVerdict::kReplay:
      break;
  }
  // The revocation must happen: a deadlock victim (a refresh or admission of
  // the same family at the same moment) is retried.
  absl::StatusOr<store::FamilyRevocation> revoked;
  for (int attempt = 0; attempt < 3; ++attempt) {
    revoked = deps_.commands.RevokeFamily(model::Actor{"refresh_token_replay"}, lease.family_id,
                                          "refresh_token_replay", /*kill_sessions=*/true,
                                          "refresh_token_replay");
    if (revoked.ok() || revoked.status().code() != absl::StatusCode::kAborted) break;
  }
  if (revoked.ok()) {
    Log()->warn("refresh token replayed: family={} user={} revoked, {} tunnels killed",
                lease.family_id, lease.user_id, revoked->kills.size());
  } else if (revoked.status().code() != absl::StatusCode::kFailedPrecondition) {
    return revoked.status();  // (FAILED_PRECONDITION: a concurrent replay revoked it already)
  }
  outcome(v1::REFRESH_TOKEN_MISMATCH);
  return absl::UnauthenticatedError(
      "REFRESH_TOKEN_MISMATCH: this refresh token was already used; the login is revoked and "
      "its tunnels are closed. Log in again");
}

absl::StatusOr<store::AccessGrant> SessionService::Authorize(const std::string& access_token,
                                                             bool allow_disabled) {
  WARDEN_RETURN_IF_ERROR(CheckToken("access_token", access_token, kAccessPrefix));
  WARDEN_ASSIGN_OR_RETURN(store::AccessGrant grant,
                          deps_.families.Authenticate(secrets::Sha256Hex(access_token)));
  if (grant.user_disabled && !allow_disabled) {
    return absl::PermissionDeniedError(absl::StrCat("user ", grant.username, " is disabled"));
  }
  return grant;
}

grpc::ServerUnaryReactor* SessionService::Logout(grpc::CallbackServerContext* ctx,
                                                 const v1::LogoutRequest* request,
                                                 v1::LogoutResponse* response) {
  return FinishOnPool(ctx, deps_.db_workers, [this, request, response]() -> absl::Status {
    if (request->scope() != v1::LOGOUT_SCOPE_UNSPECIFIED && request->scope() != v1::CURRENT &&
        request->scope() != v1::FAMILY) {
      return absl::InvalidArgumentError(
          absl::StrCat("scope must be CURRENT or FAMILY; got ", request->scope()));
    }
    // A disabled user may still end the login.
    WARDEN_ASSIGN_OR_RETURN(store::AccessGrant grant,
                            Authorize(request->access_token(), /*allow_disabled=*/true));
    const bool kill = request->scope() == v1::FAMILY;
    WARDEN_ASSIGN_OR_RETURN(
        store::FamilyRevocation revoked,
        deps_.commands.RevokeFamily(model::Actor{absl::StrCat("user:", grant.username)},
                                    grant.family_id, "logout", kill, "family.logout"));
    response->set_sessions_killed(static_cast<int32_t>(revoked.kills.size()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SessionService::IssueConnectTicket(
    grpc::CallbackServerContext* ctx, const v1::IssueConnectTicketRequest* request,
    v1::IssueConnectTicketResponse* response) {
  return FinishOnPool(ctx, deps_.db_workers, [this, request, response]() -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(store::AccessGrant grant, Authorize(request->access_token()));
    const std::string ticket = secrets::NewToken(kTicketPrefix);
    WARDEN_ASSIGN_OR_RETURN(absl::Time expires_at,
                            deps_.families.IssueConnectTicket(grant, secrets::Sha256Hex(ticket)));
    response->set_ticket(ticket);
    ToProto(expires_at, response->mutable_expires_at());
    return absl::OkStatus();
  });
}

}  // namespace warden::control::services
