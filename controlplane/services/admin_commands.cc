// AdminService calls that reach agents: enrolment tickets, kills, drains,
// and the live audit feed.

#include "absl/strings/str_cat.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"
#include "controlplane/services/watch_events_stream.h"

namespace warden::control::services {
namespace {

constexpr int kDefaultTicketSeconds = 600;
constexpr int kMaxTicketSeconds = 86400;

}  // namespace

grpc::ServerUnaryReactor* AdminService::CreateEnrollmentTicket(
    grpc::CallbackServerContext* ctx, const v1::CreateEnrollmentTicketRequest* request,
    v1::CreateEnrollmentTicketResponse* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateNodeName("node_name", request->node_name()));
    const int ttl = request->ttl_seconds() == 0 ? kDefaultTicketSeconds : request->ttl_seconds();
    if (ttl < 1 || ttl > kMaxTicketSeconds) {
      return absl::InvalidArgumentError(
          absl::StrCat("ttl_seconds must be between 1 and ", kMaxTicketSeconds,
                       " (0 = ", kDefaultTicketSeconds, "); got ", request->ttl_seconds()));
    }
    store::EnrollmentGrant grant{.node_name = request->node_name(),
                                 .protocols = {},
                                 .trusted_authenticator = request->trusted_authenticator()};
    WARDEN_ASSIGN_OR_RETURN(grant.protocols, ParseProtocols("protocols", request->protocols()));
    std::string ticket = secrets::NewToken("wet_");
    WARDEN_ASSIGN_OR_RETURN(absl::Time expires, deps_.tickets.CreateEnrollmentTicket(
                                                    call.actor(), grant, secrets::Sha256Hex(ticket),
                                                    absl::Seconds(ttl)));
    response->set_ticket(std::move(ticket));
    ToProto(expires, response->mutable_expires_at());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::KillSession(grpc::CallbackServerContext* ctx,
                                                    const v1::KillSessionRequest* request,
                                                    v1::KillSessionResponse* response) {
  return ServeAsync(
      ctx, Access::kWrite, [this, request, response](const Call& call, Finisher finish) {
        absl::Status valid = ValidateUuid("session_id", request->session_id());
        absl::StatusOr<std::string> reason =
            ReasonOrDefault(request->reason(), "disconnected by administrator");
        if (!valid.ok() || !reason.ok())
          return std::move(finish)(valid.ok() ? reason.status() : valid);
        dispatch::KillRequest kill{.session_id = request->session_id(),
                                   .reason = *std::move(reason),
                                   .force = request->force(),
                                   .wait_until = request->wait() ? std::optional(AnswerDeadline(
                                                                       call.deadline, absl::Now()))
                                                                 : std::nullopt};
        deps_.commands.KillSession(call.actor(), std::move(kill),
                                   [response, finish = std::move(finish)](
                                       absl::StatusOr<dispatch::KillAnswer> answer) mutable {
                                     if (!answer.ok()) return std::move(finish)(answer.status());
                                     response->set_command_id(answer->command_id);
                                     response->set_acknowledged(answer->acknowledged);
                                     response->set_result(answer->result);
                                     std::move(finish)(absl::OkStatus());
                                   });
      });
}

grpc::ServerUnaryReactor* AdminService::DisconnectUser(grpc::CallbackServerContext* ctx,
                                                       const v1::DisconnectUserRequest* request,
                                                       v1::DisconnectUserResponse* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("user_id", request->user_id()));
    WARDEN_ASSIGN_OR_RETURN(std::string reason,
                            ReasonOrDefault(request->reason(), "disconnected by administrator"));
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<store::QueuedCommand> queued,
        deps_.commands.DisconnectUser(call.actor(), request->user_id(), reason));
    for (const store::QueuedCommand& command : queued)
      response->add_command_ids(command.command_id);
    response->set_sessions_killed(static_cast<int32_t>(queued.size()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::DrainNode(grpc::CallbackServerContext* ctx,
                                                  const v1::DrainNodeRequest* request,
                                                  v1::Node* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("node_id", request->node_id()));
    WARDEN_ASSIGN_OR_RETURN(
        model::Node node,
        deps_.commands.DrainNode(call.actor(), request->node_id(), request->kill_sessions()));
    NodeToProto(node, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::UndrainNode(grpc::CallbackServerContext* ctx,
                                                    const v1::UndrainNodeRequest* request,
                                                    v1::Node* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("node_id", request->node_id()));
    WARDEN_ASSIGN_OR_RETURN(model::Node node,
                            deps_.commands.UndrainNode(call.actor(), request->node_id()));
    NodeToProto(node, response);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::WatchEventsResponse>* AdminService::WatchEvents(
    grpc::CallbackServerContext* ctx, const v1::WatchEventsRequest* request) {
  return new WatchEventsStream(ctx, request, deps_.db_workers, deps_.authenticator, deps_.events);
}

}  // namespace warden::control::services
