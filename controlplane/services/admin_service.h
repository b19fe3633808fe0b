#pragma once

#include "common/password_hasher.h"
#include "common/worker_pool.h"
#include "controlplane/dispatch/commands.h"
#include "controlplane/dispatch/event_feed.h"
#include "controlplane/oidc/single_sign_on.h"
#include "controlplane/services/authenticator.h"
#include "controlplane/services/unary.h"
#include "controlplane/signal/hub.h"
#include "controlplane/store/api_key_store.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/family_store.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/plan_store.h"
#include "controlplane/store/session_store.h"
#include "controlplane/store/ticket_store.h"
#include "controlplane/store/usage_store.h"
#include "controlplane/store/user_store.h"
#include "controlplane/store/webhook_store.h"
#include "controlplane/webhooks/secret_box.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden::control::services {

// The stores admin lists and statistics read from: on --database-read-url
// (a standby, behind the primary by its replication delay) when given,
// else the primary's.
struct AdminReads {
  store::UserStore& users;
  store::AuditStore& audit;
  store::NodeStore& nodes;
  store::SessionStore& sessions;
  store::UsageStore& usage;
};

struct AdminDependencies {
  WorkerPool& db_workers;
  PasswordHasher& hasher;
  Authenticator& authenticator;
  store::UserStore& users;
  store::ApiKeyStore& api_keys;
  store::AuditStore& audit;
  store::NodeStore& nodes;
  store::SessionStore& sessions;
  store::TicketStore& tickets;
  store::DeviceStore& devices;
  store::FamilyStore& families;
  store::PlanStore& plans;
  store::UsageStore& usage;
  store::WebhookStore& webhooks;
  // Seals webhook signing secrets; null without --webhook-key-file (then
  // webhooks cannot be created).
  const webhooks::SecretBox* webhook_box;
  bool webhook_allow_private_targets;
  dispatch::Commands& commands;  // everything that gives agents a command
  dispatch::EventFeed& events;
  signal::SignalHub& signal;
  absl::Duration heartbeat_interval;  // a node silent for three is offline
  const oidc::SingleSignOn& sso;      // the providers it lists
  AdminReads reads;
};

// AdminService: authenticate, validate, call the store, map the result.
class AdminService final : public v1::AdminService::CallbackService {
 public:
  explicit AdminService(AdminDependencies deps);

  grpc::ServerUnaryReactor* CreateUser(grpc::CallbackServerContext* ctx,
                                       const v1::CreateUserRequest* request,
                                       v1::User* response) override;
  grpc::ServerUnaryReactor* GetUser(grpc::CallbackServerContext* ctx,
                                    const v1::GetUserRequest* request, v1::User* response) override;
  grpc::ServerUnaryReactor* ListUsers(grpc::CallbackServerContext* ctx,
                                      const v1::ListUsersRequest* request,
                                      v1::ListUsersResponse* response) override;
  grpc::ServerUnaryReactor* UpdateUser(grpc::CallbackServerContext* ctx,
                                       const v1::UpdateUserRequest* request,
                                       v1::User* response) override;
  grpc::ServerUnaryReactor* DeleteUser(grpc::CallbackServerContext* ctx,
                                       const v1::DeleteUserRequest* request,
                                       v1::DeleteUserResponse* response) override;
  grpc::ServerUnaryReactor* CreatePlan(grpc::CallbackServerContext* ctx,
                                       const v1::CreatePlanRequest* request,
                                       v1::Plan* response) override;
  grpc::ServerUnaryReactor* GetPlan(grpc::CallbackServerContext* ctx,
                                    const v1::GetPlanRequest* request, v1::Plan* response) override;
  grpc::ServerUnaryReactor* ListPlans(grpc::CallbackServerContext* ctx,
                                      const v1::ListPlansRequest* request,
                                      v1::ListPlansResponse* response) override;
  grpc::ServerUnaryReactor* UpdatePlan(grpc::CallbackServerContext* ctx,
                                       const v1::UpdatePlanRequest* request,
                                       v1::Plan* response) override;
  grpc::ServerUnaryReactor* DeletePlan(grpc::CallbackServerContext* ctx,
                                       const v1::DeletePlanRequest* request,
                                       v1::DeletePlanResponse* response) override;
  grpc::ServerUnaryReactor* ListAuditEvents(grpc::CallbackServerContext* ctx,
                                            const v1::ListAuditEventsRequest* request,
                                            v1::ListAuditEventsResponse* response) override;
  grpc::ServerUnaryReactor* CreateApiKey(grpc::CallbackServerContext* ctx,
                                         const v1::CreateApiKeyRequest* request,
                                         v1::CreateApiKeyResponse* response) override;
  grpc::ServerUnaryReactor* ListApiKeys(grpc::CallbackServerContext* ctx,
                                        const v1::ListApiKeysRequest* request,
                                        v1::ListApiKeysResponse* response) override;
  grpc::ServerUnaryReactor* RevokeApiKey(grpc::CallbackServerContext* ctx,
                                         const v1::RevokeApiKeyRequest* request,
                                         v1::ApiKey* response) override;
  grpc::ServerUnaryReactor* CreateNode(grpc::CallbackServerContext* ctx,
                                       const v1::CreateNodeRequest* request,
                                       v1::CreateNodeResponse* response) override;
  grpc::ServerUnaryReactor* GetNode(grpc::CallbackServerContext* ctx,
                                    const v1::GetNodeRequest* request, v1::Node* response) override;
  grpc::ServerUnaryReactor* ListNodes(grpc::CallbackServerContext* ctx,
                                      const v1::ListNodesRequest* request,
                                      v1::ListNodesResponse* response) override;
  grpc::ServerUnaryReactor* UpdateNode(grpc::CallbackServerContext* ctx,
                                       const v1::UpdateNodeRequest* request,
                                       v1::Node* response) override;
  grpc::ServerUnaryReactor* RemoveNode(grpc::CallbackServerContext* ctx,
                                       const v1::RemoveNodeRequest* request,
                                       v1::Node* response) override;
  grpc::ServerUnaryReactor* CreateEnrollmentTicket(
      grpc::CallbackServerContext* ctx, const v1::CreateEnrollmentTicketRequest* request,
      v1::CreateEnrollmentTicketResponse* response) override;
  grpc::ServerUnaryReactor* KillSession(grpc::CallbackServerContext* ctx,
                                        const v1::KillSessionRequest* request,
                                        v1::KillSessionResponse* response) override;
  grpc::ServerUnaryReactor* DisconnectUser(grpc::CallbackServerContext* ctx,
                                           const v1::DisconnectUserRequest* request,
                                           v1::DisconnectUserResponse* response) override;
  grpc::ServerUnaryReactor* DrainNode(grpc::CallbackServerContext* ctx,
                                      const v1::DrainNodeRequest* request,
                                      v1::Node* response) override;
  grpc::ServerUnaryReactor* UndrainNode(grpc::CallbackServerContext* ctx,
                                        const v1::UndrainNodeRequest* request,
                                        v1::Node* response) override;
  grpc::ServerWriteReactor<v1::WatchEventsResponse>* WatchEvents(
      grpc::CallbackServerContext* ctx, const v1::WatchEventsRequest* request) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* ctx,
                                         const v1::ListSessionsRequest* request,
                                         v1::ListSessionsResponse* response) override;
  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* ctx,
                                     const v1::GetStatsRequest* request,
                                     v1::Stats* response) override;
  grpc::ServerUnaryReactor* RegisterDevice(grpc::CallbackServerContext* ctx,
                                           const v1::RegisterDeviceRequest* request,
                                           v1::Device* response) override;
  grpc::ServerUnaryReactor* ListDevices(grpc::CallbackServerContext* ctx,
                                        const v1::ListDevicesRequest* request,
                                        v1::ListDevicesResponse* response) override;
  grpc::ServerUnaryReactor* RevokeDevice(grpc::CallbackServerContext* ctx,
                                         const v1::RevokeDeviceRequest* request,
                                         v1::RevokeDeviceResponse* response) override;
  grpc::ServerUnaryReactor* ListFamilies(grpc::CallbackServerContext* ctx,
                                         const v1::ListFamiliesRequest* request,
                                         v1::ListFamiliesResponse* response) override;
  grpc::ServerUnaryReactor* RevokeFamily(grpc::CallbackServerContext* ctx,
                                         const v1::RevokeFamilyRequest* request,
                                         v1::RevokeFamilyResponse* response) override;
  grpc::ServerUnaryReactor* RevokeUserFamilies(grpc::CallbackServerContext* ctx,
                                               const v1::RevokeUserFamiliesRequest* request,
                                               v1::RevokeFamilyResponse* response) override;

  grpc::ServerUnaryReactor* GetUsage(grpc::CallbackServerContext* ctx,
                                     const v1::GetUsageRequest* request,
                                     v1::GetUsageResponse* response) override;
  grpc::ServerUnaryReactor* ListTopUsers(grpc::CallbackServerContext* ctx,
                                         const v1::ListTopUsersRequest* request,
                                         v1::ListTopUsersResponse* response) override;
  grpc::ServerUnaryReactor* ResetUsage(grpc::CallbackServerContext* ctx,
                                       const v1::ResetUsageRequest* request,
                                       v1::QuotaStatus* response) override;
  grpc::ServerUnaryReactor* GrantExtraQuota(grpc::CallbackServerContext* ctx,
                                            const v1::GrantExtraQuotaRequest* request,
                                            v1::QuotaStatus* response) override;

  grpc::ServerUnaryReactor* CreateWebhook(grpc::CallbackServerContext* ctx,
                                          const v1::CreateWebhookRequest* request,
                                          v1::CreateWebhookResponse* response) override;
  grpc::ServerUnaryReactor* GetWebhook(grpc::CallbackServerContext* ctx,
                                       const v1::GetWebhookRequest* request,
                                       v1::Webhook* response) override;
  grpc::ServerUnaryReactor* ListWebhooks(grpc::CallbackServerContext* ctx,
                                         const v1::ListWebhooksRequest* request,
                                         v1::ListWebhooksResponse* response) override;
  grpc::ServerUnaryReactor* UpdateWebhook(grpc::CallbackServerContext* ctx,
                                          const v1::UpdateWebhookRequest* request,
                                          v1::Webhook* response) override;
  grpc::ServerUnaryReactor* DeleteWebhook(grpc::CallbackServerContext* ctx,
                                          const v1::DeleteWebhookRequest* request,
                                          v1::DeleteWebhookResponse* response) override;
  grpc::ServerUnaryReactor* RotateWebhookSecret(grpc::CallbackServerContext* ctx,
                                                const v1::RotateWebhookSecretRequest* request,
                                                v1::CreateWebhookResponse* response) override;
  grpc::ServerUnaryReactor* ListWebhookDeliveries(
      grpc::CallbackServerContext* ctx, const v1::ListWebhookDeliveriesRequest* request,
      v1::ListWebhookDeliveriesResponse* response) override;
  grpc::ServerUnaryReactor* RedeliverWebhook(grpc::CallbackServerContext* ctx,
                                             const v1::RedeliverWebhookRequest* request,
                                             v1::WebhookDelivery* response) override;
  grpc::ServerUnaryReactor* ListOidcProviders(grpc::CallbackServerContext* ctx,
                                              const v1::ListOidcProvidersRequest* request,
                                              v1::ListOidcProvidersResponse* response) override;
  grpc::ServerUnaryReactor* TestWebhook(grpc::CallbackServerContext* ctx,
                                        const v1::TestWebhookRequest* request,
                                        v1::WebhookDelivery* response) override;

 private:
  using Call = UnaryCall;
  using Finisher = Unary::Finisher;

  // Every handler is served by unary_ (authenticated by API key, `access`
  // the role it needs).
  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* ctx, Access access,
                                  Unary::Work work) {
    return unary_.Serve(ctx, Rpc{.access = access}, std::move(work));
  }
  grpc::ServerUnaryReactor* ServeAsync(grpc::CallbackServerContext* ctx, Access access,
                                       Unary::AsyncWork work) {
    return unary_.ServeAsync(ctx, Rpc{.access = access}, std::move(work));
  }
  // A fresh signing secret in `secret`, returned sealed.
  absl::StatusOr<std::string> SealNewSecret(std::string* secret) const;
  // A node as callers see it, with whether it is online.
  void NodeToProto(const model::Node& node, v1::Node* out) const;

  AdminDependencies deps_;
  Unary unary_;
};

}  // namespace warden::control::services
