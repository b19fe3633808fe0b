// AdminService calls for registered WireGuard devices.

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {
namespace {}  // namespace

grpc::ServerUnaryReactor* AdminService::RegisterDevice(grpc::CallbackServerContext* ctx,
                                                       const v1::RegisterDeviceRequest* request,
                                                       v1::Device* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(store::NewDevice input, ValidateRegisterDevice(*request));
    WARDEN_ASSIGN_OR_RETURN(store::RegisteredDevice registered,
                            deps_.commands.RegisterDevice(call.actor(), input));
    ToProto(registered.device, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListDevices(grpc::CallbackServerContext* ctx,
                                                    const v1::ListDevicesRequest* request,
                                                    v1::ListDevicesResponse* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    store::DeviceFilter filter;
    WARDEN_ASSIGN_OR_RETURN(filter.limit, paging::ResolvePageSize(request->page_size()));
    if (!request->user_id().empty()) {
      WARDEN_RETURN_IF_ERROR(ValidateUuid("user_id", request->user_id()));
      filter.user_id = request->user_id();
    }
    const std::string query = absl::StrCat("devices|", filter.user_id);
    WARDEN_ASSIGN_OR_RETURN(std::string after,
                            paging::DecodePageToken(request->page_token(), query));
    if (!after.empty()) {
      WARDEN_ASSIGN_OR_RETURN(filter.after, ParsePosition(after));
    }
    WARDEN_ASSIGN_OR_RETURN(model::DevicePage page, deps_.devices.List(filter));
    for (const model::Device& device : page.devices) ToProto(device, response->add_devices());
    if (page.last) {
      response->set_next_page_token(
          paging::EncodePageToken(query, EncodePosition(page.last->first, page.last->second)));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::RevokeDevice(grpc::CallbackServerContext* ctx,
                                                     const v1::RevokeDeviceRequest* request,
                                                     v1::RevokeDeviceResponse*) {
  return Serve(ctx, Access::kWrite, [this, request](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
    return deps_.commands.RevokeDevice(call.actor(), request->id()).status();
  });
}

}  // namespace warden::control::services
