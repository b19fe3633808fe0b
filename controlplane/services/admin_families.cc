// AdminService calls for login session families.

#include "absl/strings/str_cat.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {
namespace {

void FamilyToProto(const store::FamilyRecord& family, v1::Family* out) {
  out->set_id(family.id);
  out->set_user_id(family.user_id);
  out->set_username(family.username);
  out->set_device_label(family.device_label);
  ToProto(family.created_at, out->mutable_created_at());
  ToProto(family.last_seen_at, out->mutable_last_seen_at());
  ToProto(family.expires_at, out->mutable_expires_at());
  if (family.revoked_at) ToProto(*family.revoked_at, out->mutable_revoked_at());
  out->set_revoke_reason(family.revoke_reason);
  out->set_rotations(family.rotations);
}

// The user of a request's `oneof user`, as (user_id, username).
template <typename Request>
absl::StatusOr<std::pair<std::string, std::string>> UserOf(const Request& request, bool required) {
  if (request.user_case() == Request::kUserId) {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("user_id", request.user_id()));
    return std::make_pair(request.user_id(), std::string());
  }
  if (request.user_case() == Request::kUsername) {
    WARDEN_ASSIGN_OR_RETURN(std::string username,
                            NormalizeUsername("username", request.username()));
    return std::make_pair(std::string(), username);
  }
  if (required) return absl::InvalidArgumentError("set user_id or username");
  return std::make_pair(std::string(), std::string());
}

void FillRevocation(const store::FamilyRevocation& revoked, v1::RevokeFamilyResponse* response) {
  response->set_families_revoked(revoked.families_revoked);
  response->set_sessions_killed(static_cast<int32_t>(revoked.kills.size()));
  for (const store::QueuedCommand& command : revoked.kills) {
    response->add_command_ids(command.command_id);
  }
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::ListFamilies(grpc::CallbackServerContext* ctx,
                                                     const v1::ListFamiliesRequest* request,
                                                     v1::ListFamiliesResponse* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    store::FamilyFilter filter;
    WARDEN_ASSIGN_OR_RETURN(filter.limit, paging::ResolvePageSize(request->page_size()));
    WARDEN_ASSIGN_OR_RETURN(auto user, UserOf(*request, /*required=*/false));
    filter.user_id = user.first;
    filter.username = user.second;
    filter.include_revoked = request->include_revoked();
    const std::string query = absl::StrCat("families|", filter.user_id, "|", filter.username, "|",
                                           filter.include_revoked);
    WARDEN_ASSIGN_OR_RETURN(std::string after,
                            paging::DecodePageToken(request->page_token(), query));
    if (!after.empty()) {
      WARDEN_ASSIGN_OR_RETURN(filter.before, ParsePosition(after));
    }
    WARDEN_ASSIGN_OR_RETURN(store::FamilyPage page, deps_.families.List(filter));
    for (const store::FamilyRecord& family : page.families) {
      FamilyToProto(family, response->add_families());
    }
    if (page.last) {
      response->set_next_page_token(
          paging::EncodePageToken(query, EncodePosition(page.last->first, page.last->second)));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::RevokeFamily(grpc::CallbackServerContext* ctx,
                                                     const v1::RevokeFamilyRequest* request,
                                                     v1::RevokeFamilyResponse* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("family_id", request->family_id()));
    WARDEN_ASSIGN_OR_RETURN(std::string reason,
                            ReasonOrDefault(request->reason(), "revoked by administrator"));
    WARDEN_ASSIGN_OR_RETURN(
        store::FamilyRevocation revoked,
        deps_.commands.RevokeFamily(call.actor(), request->family_id(),
                                    absl::StrCat("admin: ", reason), /*kill_sessions=*/true));
    FillRevocation(revoked, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::RevokeUserFamilies(
    grpc::CallbackServerContext* ctx, const v1::RevokeUserFamiliesRequest* request,
    v1::RevokeFamilyResponse* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(auto user, UserOf(*request, /*required=*/true));
    WARDEN_ASSIGN_OR_RETURN(std::string reason,
                            ReasonOrDefault(request->reason(), "revoked by administrator"));
    WARDEN_ASSIGN_OR_RETURN(store::FamilyRevocation revoked,
                            deps_.commands.RevokeUserFamilies(call.actor(), user.first, user.second,
                                                              absl::StrCat("admin: ", reason)));
    FillRevocation(revoked, response);
    return absl::OkStatus();
  });
}

}  // namespace warden::control::services
