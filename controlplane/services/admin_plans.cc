// AdminService calls for plans: named limit sets users are put on.

#include "common/status_macros.h"
#include "controlplane/admission/policy.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/limits_proto.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {

grpc::ServerUnaryReactor* AdminService::CreatePlan(grpc::CallbackServerContext* ctx,
                                                   const v1::CreatePlanRequest* request,
                                                   v1::Plan* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(ValidatedPlan input, ValidateCreatePlan(*request));
    WARDEN_ASSIGN_OR_RETURN(model::Plan plan, deps_.plans.Create(call.actor(), input.name,
                                                                 input.description, input.limits));
    ToProto(plan, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::GetPlan(grpc::CallbackServerContext* ctx,
                                                const v1::GetPlanRequest* request,
                                                v1::Plan* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    std::string id, name;
    switch (request->key_case()) {
      case v1::GetPlanRequest::kId:
        WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
        id = request->id();
        break;
      case v1::GetPlanRequest::kName:
        WARDEN_RETURN_IF_ERROR(ValidatePlanName("name", request->name()));
        name = request->name();
        break;
      default:
        return absl::InvalidArgumentError("set either id or name");
    }
    WARDEN_ASSIGN_OR_RETURN(model::Plan plan, deps_.plans.Get(id, name));
    ToProto(plan, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListPlans(grpc::CallbackServerContext* ctx,
                                                  const v1::ListPlansRequest*,
                                                  v1::ListPlansResponse* response) {
  return Serve(ctx, Access::kRead, [this, response](const Call&) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(std::vector<model::Plan> plans, deps_.plans.List());
    for (const model::Plan& plan : plans) ToProto(plan, response->add_plans());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::UpdatePlan(grpc::CallbackServerContext* ctx,
                                                   const v1::UpdatePlanRequest* request,
                                                   v1::Plan* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(ValidatedPlanUpdate input, ValidateUpdatePlan(*request));
    WARDEN_ASSIGN_OR_RETURN(
        model::Plan plan,
        deps_.plans.Update(call.actor(), input.id, input.changes, admission::ApplyPolicy));
    ToProto(plan, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::DeletePlan(grpc::CallbackServerContext* ctx,
                                                   const v1::DeletePlanRequest* request,
                                                   v1::DeletePlanResponse*) {
  return Serve(ctx, Access::kWrite, [this, request](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
    return deps_.plans.Delete(call.actor(), request->id());
  });
}

}  // namespace warden::control::services
