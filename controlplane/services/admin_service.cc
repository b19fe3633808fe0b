#include "controlplane/services/admin_service.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controlplane/services/unary.h"

namespace warden::control::services {
namespace {

// Work that runs longer than this is cut off even if the caller set no deadline.
constexpr absl::Duration kMaxCallDuration = absl::Seconds(30);

}  // namespace

grpc::ServerUnaryReactor* AdminService::Serve(grpc::CallbackServerContext* ctx, Access access,
                                              Work work) {
  std::string token = BearerToken(ctx->client_metadata());
  const absl::Time deadline = DeadlineOf(ctx, kMaxCallDuration);
  return FinishOnPool(
      ctx, deps_.db_workers,
      [this, access, deadline, token = std::move(token),
       work = std::move(work)]() mutable -> absl::Status {
        WARDEN_ASSIGN_OR_RETURN(Principal caller, deps_.authenticator.Authenticate(token));
        if (access == Access::kWrite && caller.role != model::Role::kAdmin) {
          return absl::PermissionDeniedError(absl::StrCat(
              "API key \"", caller.key_name, "\" has the viewer role and may only read"));
        }
        return work(Call{.caller = std::move(caller), .deadline = deadline});
      });
}

}  // namespace warden::control::services
