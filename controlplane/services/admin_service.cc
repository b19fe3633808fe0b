#include "controlplane/services/admin_service.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/unary.h"

namespace warden::control::services {
namespace {

// Work that runs longer than this is cut off even if the caller set no deadline.
constexpr absl::Duration kMaxCallDuration = absl::Seconds(30);

}  // namespace

grpc::ServerUnaryReactor* AdminService::Serve(grpc::CallbackServerContext* ctx, Access access,
                                              Work work) {
  return ServeAsync(ctx, access,
                    [work = std::move(work)](const Call& call, Finisher finish) mutable {
                      std::move(finish)(work(call));
                    });
}

grpc::ServerUnaryReactor* AdminService::ServeAsync(grpc::CallbackServerContext* ctx, Access access,
                                                   AsyncWork work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  std::string token = BearerToken(ctx->client_metadata());
  const absl::Time deadline = DeadlineOf(ctx, kMaxCallDuration);
  Finisher finish = [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); };
  auto holder = std::make_shared<Finisher>(std::move(finish));
  const bool queued = deps_.db_workers.TrySubmit(
      [this, access, deadline, holder, token = std::move(token), work = std::move(work)]() mutable {
        if (absl::Now() >= deadline) {
          return std::move(*holder)(absl::DeadlineExceededError(
              "the deadline passed while the call waited for a worker"));
        }
        absl::StatusOr<Principal> caller = deps_.authenticator.Authenticate(token);
        if (!caller.ok()) return std::move(*holder)(caller.status());
        if (access == Access::kWrite && caller->role != model::Role::kAdmin) {
          return std::move(*holder)(absl::PermissionDeniedError(absl::StrCat(
              "API key \"", caller->key_name, "\" has the viewer role and may only read")));
        }
        work(Call{.caller = *std::move(caller), .deadline = deadline}, std::move(*holder));
      });
  if (!queued) {
    std::move (*holder)(OverloadedError());
  }
  return reactor;
}

void AdminService::NodeToProto(const model::Node& node, v1::Node* out) const {
  ToProto(node, out);
  out->set_online(node.state != model::NodeState::kRemoved && node.last_seen_at &&
                  absl::Now() - *node.last_seen_at < 3 * deps_.heartbeat_interval);
}

}  // namespace warden::control::services
