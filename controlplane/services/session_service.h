#pragma once

// SessionService: what VPN apps call to log in, keep their login alive with
// rotating refresh tokens, and get connect tickets for nodes. Thin: validate,
// call one operation of families/ (Logins, Refresher) or the family store, map
// the outcome.

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/worker_pool.h"
#include "controlplane/admission/password_check.h"
#include "controlplane/dispatch/commands.h"
#include "controlplane/families/login.h"
#include "controlplane/families/login_throttle.h"
#include "controlplane/families/refresh.h"
#include "controlplane/oidc/single_sign_on.h"
#include "controlplane/services/unary.h"
#include "controlplane/services/user_authenticator.h"
#include "controlplane/store/family_store.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::control::services {

struct SessionDependencies {
  WorkerPool& db_workers;
  // Bound to the hasher's general lane: logins never take VPN logins' share.
  admission::PasswordCheck& passwords;
  // Checked before any password work.
  families::LoginThrottle& throttle;
  metrics::Registry& metrics;
  store::FamilyStore& families;
  dispatch::Commands& commands;  // revocations that kill tunnels
  // Stamps the access expiry a rotation keeps for a retry of its request.
  const Clock& clock;
  // Single sign-on, and the workers that wait on identity providers (apart,
  // so a slow provider never holds the database workers).
  oidc::SingleSignOn& sso;
  WorkerPool& sso_workers;
};

class SessionService final : public v1::SessionService::CallbackService {
 public:
  explicit SessionService(SessionDependencies deps);

  grpc::ServerUnaryReactor* Login(grpc::CallbackServerContext* ctx, const v1::LoginRequest* request,
                                  v1::LoginResponse* response) override;
  grpc::ServerUnaryReactor* Refresh(grpc::CallbackServerContext* ctx,
                                    const v1::RefreshRequest* request,
                                    v1::RefreshResponse* response) override;
  grpc::ServerUnaryReactor* Logout(grpc::CallbackServerContext* ctx,
                                   const v1::LogoutRequest* request,
                                   v1::LogoutResponse* response) override;
  grpc::ServerUnaryReactor* IssueConnectTicket(grpc::CallbackServerContext* ctx,
                                               const v1::IssueConnectTicketRequest* request,
                                               v1::IssueConnectTicketResponse* response) override;
  grpc::ServerUnaryReactor* BeginOidcLogin(grpc::CallbackServerContext* ctx,
                                           const v1::BeginOidcLoginRequest* request,
                                           v1::BeginOidcLoginResponse* response) override;
  grpc::ServerUnaryReactor* CompleteOidcLogin(grpc::CallbackServerContext* ctx,
                                              const v1::CompleteOidcLoginRequest* request,
                                              v1::LoginResponse* response) override;
  grpc::ServerUnaryReactor* StartDeviceLogin(grpc::CallbackServerContext* ctx,
                                             const v1::StartDeviceLoginRequest* request,
                                             v1::StartDeviceLoginResponse* response) override;
  grpc::ServerUnaryReactor* PollDeviceLogin(grpc::CallbackServerContext* ctx,
                                            const v1::PollDeviceLoginRequest* request,
                                            v1::PollDeviceLoginResponse* response) override;

 private:
  // The access token's grant; PERMISSION_DENIED for a disabled user unless
  // `allow_disabled`.
  absl::StatusOr<store::AccessGrant> Authorize(const std::string& access_token,
                                               bool allow_disabled = false);

  // The address bucket of the login throttle, for starts of single sign-on
  // logins; "" when allowed.
  absl::Status ThrottleStart(grpc::CallbackServerContext* ctx);

  SessionDependencies deps_;
  Unary unary_;
  Unary sso_unary_;
  UserAuthenticator users_;
  families::Logins logins_;
  families::Refresher refresher_;
  metrics::Family<metrics::Counter>& throttled_;
};

}  // namespace warden::control::services
