#pragma once

#include "common/worker_pool.h"
#include "controlplane/admission/admitter.h"
#include "controlplane/dispatch/dispatcher.h"
#include "controlplane/services/node_authenticator.h"
#include "controlplane/services/unary.h"
#include "controlplane/store/session_store.h"
#include "controlplane/store/ticket_store.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden::control::services {

struct AgentDependencies {
  WorkerPool& db_workers;
  NodeAuthenticator& nodes;
  dispatch::Commands& commands;  // admissions, whose evictions are commands
  store::SessionStore& sessions;
  store::TicketStore& tickets;
  dispatch::Dispatcher& dispatcher;
  absl::Duration heartbeat_interval;
};

// AgentService: what agents on VPN nodes call.
class AgentService final : public v1::AgentService::CallbackService {
 public:
  explicit AgentService(AgentDependencies deps);

  grpc::ServerUnaryReactor* Enroll(grpc::CallbackServerContext* ctx,
                                   const v1::EnrollRequest* request,
                                   v1::EnrollResponse* response) override;
  grpc::ServerBidiReactor<v1::AgentMessage, v1::ControlMessage>* Attach(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerUnaryReactor* Admit(grpc::CallbackServerContext* ctx, const v1::AdmitRequest* request,
                                  v1::AdmitResponse* response) override;
  grpc::ServerUnaryReactor* CloseSession(grpc::CallbackServerContext* ctx,
                                         const v1::CloseSessionRequest* request,
                                         v1::CloseSessionResponse* response) override;

 private:
  AgentDependencies deps_;
  Unary unary_;
};

}  // namespace warden::control::services
