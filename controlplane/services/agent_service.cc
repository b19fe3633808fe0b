#include "controlplane/services/agent_service.h"

#include "common/logging.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/services/attach_stream.h"
#include "controlplane/services/authenticator.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {
namespace {

const logging::Logger Log("control.agents");

}  // namespace

AgentService::AgentService(AgentDependencies deps)
    : deps_(deps), unary_(Log, deps.db_workers, /*api_keys=*/nullptr, &deps.nodes) {}

grpc::ServerUnaryReactor* AgentService::Enroll(grpc::CallbackServerContext* ctx,
                                               const v1::EnrollRequest* request,
                                               v1::EnrollResponse* response) {
  // The node is not known yet: only its certificate is checked, against the
  // name the ticket was issued for.
  std::vector<std::string> names = PeerCertificateNames(*ctx);
  return unary_.Serve(
      ctx, Rpc{.access = Access::kAnyone},
      [this, request, response, names = std::move(names)](const UnaryCall&) -> absl::Status {
        if (!secrets::LooksLikeToken(request->ticket(), "wet_")) {
          return absl::InvalidArgumentError("ticket must be \"wet_\" followed by 64 hex digits");
        }
        WARDEN_ASSIGN_OR_RETURN(store::NodeFactsRecord facts, ValidateNodeFacts(request->facts()));
        WARDEN_RETURN_IF_ERROR(ValidateRequestId("request_id", request->request_id()));
        const std::string request_hash =
            request->request_id().empty() ? "" : secrets::Sha256Hex(request->request_id());
        std::string credential = secrets::NewToken("wnc_");
        WARDEN_ASSIGN_OR_RETURN(store::EnrolledNode node,
                                deps_.tickets.Enroll(secrets::Sha256Hex(request->ticket()),
                                                     request_hash, secrets::Sha256Hex(credential),
                                                     facts, [&](const std::string& node_name) {
                                                       return deps_.nodes.CheckCertificate(
                                                           node_name, names);
                                                     }));
        response->set_node_id(node.node_id);
        response->set_node_name(node.node_name);
        response->set_credential(std::move(credential));
        return absl::OkStatus();
      });
}

grpc::ServerBidiReactor<v1::AgentMessage, v1::ControlMessage>* AgentService::Attach(
    grpc::CallbackServerContext* ctx) {
  return new AttachStream(ctx, AttachDependencies{.db_workers = deps_.db_workers,
                                                  .nodes = deps_.nodes,
                                                  .dispatcher = deps_.dispatcher,
                                                  .heartbeat_interval = deps_.heartbeat_interval});
}

grpc::ServerUnaryReactor* AgentService::Admit(grpc::CallbackServerContext* ctx,
                                              const v1::AdmitRequest* request,
                                              v1::AdmitResponse* response) {
  // UNAVAILABLE when full, not RESOURCE_EXHAUSTED: the agent's
  // fail-open/closed rule decides what an overloaded control plane means for
  // a VPN login. The node is authenticated before any password is hashed.
  return unary_.ServeAsync(
      ctx, Rpc{.access = Access::kNode, .when_full = WhenFull::kUnavailable},
      [this, request, response](const UnaryCall& call, Unary::Finisher finish) {
        absl::StatusOr<admission::AdmitInput> input = ValidateAdmitRequest(*request);
        if (!input.ok()) return std::move(finish)(input.status());
        input->request.node_id = call.node.id;
        input->request.node_name = call.node.name;
        deps_.commands.Admit(*std::move(input), call.deadline,
                             [response, finish = std::move(finish)](
                                 absl::StatusOr<store::AdmissionResult> result) mutable {
                               if (result.ok()) ToProto(*result, response);
                               std::move(finish)(result.status());
                             });
      });
}

grpc::ServerUnaryReactor* AgentService::CloseSession(grpc::CallbackServerContext* ctx,
                                                     const v1::CloseSessionRequest* request,
                                                     v1::CloseSessionResponse* response) {
  return unary_.Serve(
      ctx, Rpc{.access = Access::kNode},
      [this, request, response](const UnaryCall& call) -> absl::Status {
        const store::NodeIdentity& node = call.node;
        std::string id, key;
        if (request->session_case() == v1::CloseSessionRequest::kSessionId) {
          WARDEN_RETURN_IF_ERROR(ValidateUuid("session_id", request->session_id()));
          id = request->session_id();
        } else if (request->session_case() == v1::CloseSessionRequest::kSessionKey) {
          WARDEN_RETURN_IF_ERROR(ValidateText("session_key", request->session_key(), 256, true));
          key = request->session_key();
        } else {
          return absl::InvalidArgumentError("set session_id or session_key");
        }
        WARDEN_RETURN_IF_ERROR(ValidateText("reason", request->reason(), 256, false));
        WARDEN_ASSIGN_OR_RETURN(model::UsageSample usage,
                                ValidateUsageSample("request", request->rx_bytes(),
                                                    request->tx_bytes(), request->usage_sequence()));
        WARDEN_ASSIGN_OR_RETURN(
            store::SessionStore::CloseResult closed,
            deps_.sessions.Close(node.id, node.name, id, key,
                                 request->reason().empty() ? "closed" : request->reason(), usage));
        response->set_already_closed(closed.already_closed);
        return absl::OkStatus();
      });
}

}  // namespace warden::control::services
