#pragma once

// SessionService: what VPN apps call to log in, keep their login alive with
// rotating refresh tokens, and get connect tickets for nodes. Thin: validate,
// call the family store (and the refresh rule), map the outcome.

#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/worker_pool.h"
#include "controlplane/admission/password_check.h"
#include "controlplane/dispatch/commands.h"
#include "controlplane/families/login_throttle.h"
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

 private:
  absl::Status FinishLogin(const std::string& user_id, const std::string& device_label,
                           const std::string& peer, v1::LoginResponse* response);
  absl::Status RefreshOnWorker(grpc::CallbackServerContext* ctx, const v1::RefreshRequest& request,
                               v1::RefreshResponse* response);
  // The access token's grant; PERMISSION_DENIED for a disabled user unless
  // `allow_disabled`.
  absl::StatusOr<store::AccessGrant> Authorize(const std::string& access_token,
                                               bool allow_disabled = false);

  SessionDependencies deps_;
  metrics::Family<metrics::Counter>& throttled_;
};

}  // namespace warden::control::services
