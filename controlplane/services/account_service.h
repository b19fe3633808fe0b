#pragma once

// AccountService: what end users call about their own account, with the
// access token of their login (Access::kUser). Thin: validate, call one
// store or command operation scoped to the caller's user id (the scoping
// is in the SQL: another user's id is as unknown as one that never
// existed), convert. Every call first passes the caller's rate limit.

#include "common/metrics.h"
#include "common/worker_pool.h"
#include "controlplane/dispatch/commands.h"
#include "controlplane/families/call_throttle.h"
#include "controlplane/services/unary.h"
#include "controlplane/services/user_authenticator.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/family_store.h"
#include "controlplane/store/session_store.h"
#include "controlplane/store/usage_store.h"
#include "controlplane/store/user_store.h"
#include "warden/v1/account.grpc.pb.h"

namespace warden::control::services {

struct AccountDependencies {
  WorkerPool& db_workers;
  store::FamilyStore& families;
  store::UserStore& users;
  store::DeviceStore& devices;
  store::SessionStore& sessions;
  store::UsageStore& usage;
  dispatch::Commands& commands;  // device and login revocations, kills
  families::CallThrottle& throttle;
  metrics::Registry& metrics;
  // Devices a user may register themselves (0 = no cap).
  int max_devices = 10;
};

class AccountService final : public v1::AccountService::CallbackService {
 public:
  explicit AccountService(AccountDependencies deps);

  grpc::ServerUnaryReactor* GetMe(grpc::CallbackServerContext* ctx, const v1::GetMeRequest* request,
                                  v1::Me* response) override;
  grpc::ServerUnaryReactor* ListMyDevices(grpc::CallbackServerContext* ctx,
                                          const v1::ListMyDevicesRequest* request,
                                          v1::ListMyDevicesResponse* response) override;
  grpc::ServerUnaryReactor* RegisterMyDevice(grpc::CallbackServerContext* ctx,
                                             const v1::RegisterMyDeviceRequest* request,
                                             v1::MyDeviceConfig* response) override;
  grpc::ServerUnaryReactor* GetMyDeviceConfig(grpc::CallbackServerContext* ctx,
                                              const v1::GetMyDeviceConfigRequest* request,
                                              v1::MyDeviceConfig* response) override;
  grpc::ServerUnaryReactor* RenameMyDevice(grpc::CallbackServerContext* ctx,
                                           const v1::RenameMyDeviceRequest* request,
                                           v1::Device* response) override;
  grpc::ServerUnaryReactor* RevokeMyDevice(grpc::CallbackServerContext* ctx,
                                           const v1::RevokeMyDeviceRequest* request,
                                           v1::RevokeMyDeviceResponse* response) override;
  grpc::ServerUnaryReactor* ListMySessions(grpc::CallbackServerContext* ctx,
                                           const v1::ListMySessionsRequest* request,
                                           v1::ListMySessionsResponse* response) override;
  grpc::ServerUnaryReactor* EndMySession(grpc::CallbackServerContext* ctx,
                                         const v1::EndMySessionRequest* request,
                                         v1::EndMySessionResponse* response) override;
  grpc::ServerUnaryReactor* ListMyLogins(grpc::CallbackServerContext* ctx,
                                         const v1::ListMyLoginsRequest* request,
                                         v1::ListMyLoginsResponse* response) override;
  grpc::ServerUnaryReactor* EndMyLogin(grpc::CallbackServerContext* ctx,
                                       const v1::EndMyLoginRequest* request,
                                       v1::EndMyLoginResponse* response) override;
  grpc::ServerUnaryReactor* GetMyLastDisconnect(grpc::CallbackServerContext* ctx,
                                                const v1::GetMyLastDisconnectRequest* request,
                                                v1::LastDisconnect* response) override;

 private:
  // Whether a disabled user may make the call: reads and ends, yes.
  enum class Kind { kReadOrEnd, kChange };
  // Unary with Access::kUser, then the caller's rate limit, then `work`.
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* ctx, Kind kind, Unary::Work work);
  grpc::ServerUnaryReactor* ServeAsync(grpc::CallbackServerContext* ctx, Kind kind,
                                       Unary::AsyncWork work);
  // The device with the nodes it may reach and a wg-quick file per node.
  absl::Status DeviceConfig(const model::Device& device, v1::MyDeviceConfig* out);

  AccountDependencies deps_;
  UserAuthenticator users_;
  Unary unary_;
  metrics::Family<metrics::Counter>& throttled_;
};

}  // namespace warden::control::services
