#include "absl/strings/str_cat.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {

// "wnc_": Warden node credential.
inline constexpr absl::string_view kNodeCredentialPrefix = "wnc_";

grpc::ServerUnaryReactor* AdminService::CreateNode(grpc::CallbackServerContext* ctx,
                                                   const v1::CreateNodeRequest* request,
                                                   v1::CreateNodeResponse* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateNodeName("name", request->name()));
    WARDEN_ASSIGN_OR_RETURN(std::vector<model::Protocol> protocols,
                            ParseProtocols("protocols", request->protocols()));
    std::string credential = secrets::NewToken(kNodeCredentialPrefix);
    WARDEN_ASSIGN_OR_RETURN(
        model::Node node,
        deps_.nodes.Create(call.actor(), request->name(), protocols,
                           request->trusted_authenticator(), secrets::Sha256Hex(credential)));
    NodeToProto(node, response->mutable_node());
    response->set_credential(std::move(credential));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::GetNode(grpc::CallbackServerContext* ctx,
                                                const v1::GetNodeRequest* request,
                                                v1::Node* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    absl::StatusOr<model::Node> node;
    switch (request->key_case()) {
      case v1::GetNodeRequest::kId:
        WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
        node = deps_.nodes.GetById(request->id());
        break;
      case v1::GetNodeRequest::kName:
        WARDEN_RETURN_IF_ERROR(ValidateNodeName("name", request->name()));
        node = deps_.nodes.GetByName(request->name());
        break;
      default:
        return absl::InvalidArgumentError("set either id or name");
    }
    if (!node.ok()) return node.status();
    NodeToProto(*node, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListNodes(grpc::CallbackServerContext* ctx,
                                                  const v1::ListNodesRequest* request,
                                                  v1::ListNodesResponse* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(std::vector<model::Node> nodes,
                            deps_.reads.nodes.List(request->include_removed()));
    for (const model::Node& node : nodes) NodeToProto(node, response->add_nodes());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::UpdateNode(grpc::CallbackServerContext* ctx,
                                                   const v1::UpdateNodeRequest* request,
                                                   v1::Node* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(ValidatedNodeUpdate input, ValidateUpdateNode(*request));
    WARDEN_ASSIGN_OR_RETURN(model::Node node,
                            deps_.nodes.Update(call.actor(), input.id, input.changes));
    NodeToProto(node, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::RemoveNode(grpc::CallbackServerContext* ctx,
                                                   const v1::RemoveNodeRequest* request,
                                                   v1::Node* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
    WARDEN_ASSIGN_OR_RETURN(model::Node node, deps_.nodes.Remove(call.actor(), request->id(),
                                                                 request->close_sessions()));
    NodeToProto(node, response);
    return absl::OkStatus();
  });
}

}  // namespace warden::control::services
