#include "controlplane/services/session_service.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {
namespace {

const logging::Logger Log("control.sessions");

using families::kRefreshTokenPrefix;
constexpr char kTicketPrefix[] = "wct_";
constexpr char kOutcomeKey[] = "warden-refresh-outcome";

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

absl::Status Throttled(grpc::CallbackServerContext* ctx, const families::ThrottleVerdict& verdict) {
  return RetryLater(ctx, verdict.retry_after,
                    absl::StrCat("too many login attempts ",
                                 verdict.by_username ? "for this username" : "from this address"));
}

// The username, normalised; or why the request is malformed.
absl::StatusOr<std::string> ValidateLogin(const v1::LoginRequest& request) {
  WARDEN_ASSIGN_OR_RETURN(std::string username, NormalizeUsername("username", request.username()));
  if (request.password().empty() || request.password().size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("password must be 1 to ", kMaxPasswordBytes, " bytes long"));
  }
  WARDEN_RETURN_IF_ERROR(ValidateText("device_label", request.device_label(), 128, false));
  return username;
}

void FillLogin(const families::NewLogin& login, v1::LoginResponse* response) {
  response->set_access_token(login.access_token);
  response->set_refresh_token(login.refresh_token);
  response->set_family_id(login.family_id);
  ToProto(login.access_expires_at, response->mutable_access_expires_at());
  ToProto(login.family_expires_at, response->mutable_family_expires_at());
}

v1::DeviceLoginState ToProto(oidc::DeviceLoginState state) {
  switch (state) {
    case oidc::DeviceLoginState::kPending:
      return v1::DEVICE_LOGIN_PENDING;
    case oidc::DeviceLoginState::kSlowDown:
      return v1::DEVICE_LOGIN_SLOW_DOWN;
    case oidc::DeviceLoginState::kComplete:
      return v1::DEVICE_LOGIN_COMPLETE;
    case oidc::DeviceLoginState::kDenied:
      return v1::DEVICE_LOGIN_DENIED;
    case oidc::DeviceLoginState::kExpired:
      return v1::DEVICE_LOGIN_EXPIRED;
  }
  return v1::DEVICE_LOGIN_STATE_UNSPECIFIED;
}

int32_t WholeSeconds(absl::Duration duration) {
  return static_cast<int32_t>(absl::ToInt64Seconds(absl::Ceil(duration, absl::Seconds(1))));
}

v1::RefreshOutcome ToProto(families::RefreshOutcome outcome) {
  switch (outcome) {
    case families::RefreshOutcome::kRotated:
      return v1::ROTATED;
    case families::RefreshOutcome::kLeaseUnavailable:
      return v1::LEASE_UNAVAILABLE;
    case families::RefreshOutcome::kSessionMissing:
      return v1::SESSION_MISSING;
    case families::RefreshOutcome::kTokenMismatch:
      return v1::REFRESH_TOKEN_MISMATCH;
  }
  return v1::REFRESH_OUTCOME_UNSPECIFIED;
}

}  // namespace

SessionService::SessionService(SessionDependencies deps)
    : deps_(deps),
      unary_(Log, deps.db_workers, /*api_keys=*/nullptr, /*nodes=*/nullptr),
      sso_unary_(Log, deps.sso_workers, /*api_keys=*/nullptr, /*nodes=*/nullptr),
      users_(deps.families),
      logins_(deps.passwords, deps.throttle, deps.families),
      refresher_(deps.families, deps.clock,
                 [&commands = deps.commands](const std::string& family_id) {
                   return commands.RevokeFamily(model::Actor{"refresh_token_replay"}, family_id,
                                                "refresh_token_replay", /*kill_sessions=*/true,
                                                "refresh_token_replay");
                 }),
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
  absl::StatusOr<std::string> username = ValidateLogin(*request);
  if (!username.ok()) return unary_.Refuse(ctx, username.status());
  // On the reaction, before the call takes a worker or any password work:
  // a flood of guesses is refused at the cost of a map lookup.
  const std::string peer = ctx->peer();
  const families::ThrottleVerdict verdict =
      deps_.throttle.Attempt(*username, families::ClientAddressKey(peer));
  if (!verdict.allowed) {
    throttled_.With({verdict.by_username ? "username" : "address"}).Increment();
    return unary_.Refuse(ctx, Throttled(ctx, verdict));
  }
  families::LoginInput input{.username = *std::move(username),
                             .password = request->password(),
                             .device_label = request->device_label(),
                             .client_address = peer};
  return unary_.ServeAsync(ctx, Rpc{.access = Access::kAnyone},
                           [this, response, input = std::move(input)](
                               const UnaryCall& call, Unary::Finisher finish) mutable {
                             logins_.Login(std::move(input), call.deadline,
                                           [response, finish = std::move(finish)](
                                               absl::StatusOr<families::NewLogin> login) mutable {
                                             if (login.ok()) FillLogin(*login, response);
                                             std::move(finish)(login.status());
                                           });
                           });
}

grpc::ServerUnaryReactor* SessionService::Refresh(grpc::CallbackServerContext* ctx,
                                                  const v1::RefreshRequest* request,
                                                  v1::RefreshResponse* response) {
  return unary_.Serve(
      ctx, Rpc{.access = Access::kAnyone},
      [this, request, response](const UnaryCall& call) -> absl::Status {
        WARDEN_RETURN_IF_ERROR(
            CheckToken("refresh_token", request->refresh_token(), kRefreshTokenPrefix));
        WARDEN_RETURN_IF_ERROR(CheckRequestId(request->request_id()));
        WARDEN_ASSIGN_OR_RETURN(families::RefreshAnswer answer,
                                refresher_.Refresh({.refresh_token = request->refresh_token(),
                                                    .request_id = request->request_id()}));
        call.ctx->AddTrailingMetadata(kOutcomeKey,
                                      v1::RefreshOutcome_Name(ToProto(answer.outcome)));
        if (answer.retry_after_ms) {
          call.ctx->AddTrailingMetadata("retry-after-ms", std::to_string(*answer.retry_after_ms));
        }
        if (!answer.status.ok()) return answer.status;
        response->set_outcome(v1::ROTATED);
        response->set_recovered(answer.login.recovered);
        response->set_access_token(answer.login.access_token);
        response->set_refresh_token(answer.login.refresh_token);
        response->set_family_id(answer.login.family_id);
        ToProto(answer.login.access_expires_at, response->mutable_access_expires_at());
        return absl::OkStatus();
      });
}

absl::StatusOr<store::AccessGrant> SessionService::Authorize(const std::string& access_token,
                                                             bool allow_disabled) {
  return users_.Authenticate("access_token", access_token, allow_disabled);
}

grpc::ServerUnaryReactor* SessionService::Logout(grpc::CallbackServerContext* ctx,
                                                 const v1::LogoutRequest* request,
                                                 v1::LogoutResponse* response) {
  return unary_.Serve(
      ctx, Rpc{.access = Access::kAnyone},
      [this, request, response](const UnaryCall&) -> absl::Status {
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
  return unary_.Serve(
      ctx, Rpc{.access = Access::kAnyone},
      [this, request, response](const UnaryCall&) -> absl::Status {
        WARDEN_ASSIGN_OR_RETURN(store::AccessGrant grant, Authorize(request->access_token()));
        const std::string ticket = secrets::NewToken(kTicketPrefix);
        WARDEN_ASSIGN_OR_RETURN(absl::Time expires_at, deps_.families.IssueConnectTicket(
                                                           grant, secrets::Sha256Hex(ticket)));
        response->set_ticket(ticket);
        ToProto(expires_at, response->mutable_expires_at());
        return absl::OkStatus();
      });
}

absl::Status SessionService::ThrottleStart(grpc::CallbackServerContext* ctx) {
  const families::ThrottleVerdict verdict =
      deps_.throttle.AttemptFromAddress(families::ClientAddressKey(ctx->peer()));
  if (verdict.allowed) return absl::OkStatus();
  throttled_.With({"address"}).Increment();
  return Throttled(ctx, verdict);
}

grpc::ServerUnaryReactor* SessionService::BeginOidcLogin(grpc::CallbackServerContext* ctx,
                                                         const v1::BeginOidcLoginRequest* request,
                                                         v1::BeginOidcLoginResponse* response) {
  if (absl::Status valid = ValidateText("device_label", request->device_label(), 128, false);
      !valid.ok()) {
    return unary_.Refuse(ctx, valid);
  }
  if (request->redirect_uri().empty() || request->redirect_uri().size() > 2048) {
    return unary_.Refuse(
        ctx, absl::InvalidArgumentError("redirect_uri is required (at most 2048 characters)"));
  }
  if (absl::Status throttled = ThrottleStart(ctx); !throttled.ok()) {
    return unary_.Refuse(ctx, throttled);
  }
  return sso_unary_.Serve(
      ctx, Rpc{.access = Access::kAnyone},
      [this, request, response, peer = ctx->peer()](const UnaryCall&) -> absl::Status {
        WARDEN_ASSIGN_OR_RETURN(oidc::BegunLogin begun,
                                deps_.sso.Begin({.provider = request->provider(),
                                                 .redirect_uri = request->redirect_uri(),
                                                 .device_label = request->device_label(),
                                                 .client_address = peer}));
        response->set_login_id(begun.login_id);
        response->set_authorization_url(begun.authorization_url);
        response->set_state(begun.state);
        ToProto(begun.expires_at, response->mutable_expires_at());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* SessionService::CompleteOidcLogin(
    grpc::CallbackServerContext* ctx, const v1::CompleteOidcLoginRequest* request,
    v1::LoginResponse* response) {
  return sso_unary_.Serve(ctx, Rpc{.access = Access::kAnyone},
                          [this, request, response](const UnaryCall&) -> absl::Status {
                            WARDEN_ASSIGN_OR_RETURN(
                                families::NewLogin login,
                                deps_.sso.Complete({.login_id = request->login_id(),
                                                    .code = request->code(),
                                                    .state = request->state()}));
                            FillLogin(login, response);
                            return absl::OkStatus();
                          });
}

grpc::ServerUnaryReactor* SessionService::StartDeviceLogin(
    grpc::CallbackServerContext* ctx, const v1::StartDeviceLoginRequest* request,
    v1::StartDeviceLoginResponse* response) {
  if (absl::Status valid = ValidateText("device_label", request->device_label(), 128, false);
      !valid.ok()) {
    return unary_.Refuse(ctx, valid);
  }
  if (absl::Status throttled = ThrottleStart(ctx); !throttled.ok()) {
    return unary_.Refuse(ctx, throttled);
  }
  return sso_unary_.Serve(
      ctx, Rpc{.access = Access::kAnyone},
      [this, request, response, peer = ctx->peer()](const UnaryCall&) -> absl::Status {
        WARDEN_ASSIGN_OR_RETURN(
            oidc::StartedDeviceLogin started,
            deps_.sso.StartDevice(request->provider(), request->device_label(), peer));
        response->set_device_login_id(started.device_login_id);
        response->set_user_code(started.user_code);
        response->set_verification_uri(started.verification_uri);
        response->set_verification_uri_complete(started.verification_uri_complete);
        response->set_interval_seconds(WholeSeconds(started.interval));
        ToProto(started.expires_at, response->mutable_expires_at());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* SessionService::PollDeviceLogin(grpc::CallbackServerContext* ctx,
                                                          const v1::PollDeviceLoginRequest* request,
                                                          v1::PollDeviceLoginResponse* response) {
  return sso_unary_.Serve(ctx, Rpc{.access = Access::kAnyone},
                          [this, request, response](const UnaryCall&) -> absl::Status {
                            WARDEN_ASSIGN_OR_RETURN(
                                oidc::DevicePollAnswer answer,
                                deps_.sso.PollDevice(request->device_login_id()));
                            response->set_state(ToProto(answer.state));
                            response->set_interval_seconds(WholeSeconds(answer.interval));
                            response->set_message(answer.message);
                            if (answer.login) FillLogin(*answer.login, response->mutable_login());
                            return absl::OkStatus();
                          });
}

}  // namespace warden::control::services
