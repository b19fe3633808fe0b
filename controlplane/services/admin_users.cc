#include "absl/strings/str_cat.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "controlplane/admission/policy.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {

grpc::ServerUnaryReactor* AdminService::CreateUser(grpc::CallbackServerContext* ctx,
                                                   const v1::CreateUserRequest* request,
                                                   v1::User* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(ValidatedNewUser input, ValidateCreateUser(*request));
    if (input.password) {
      WARDEN_ASSIGN_OR_RETURN(input.user.password_hash,
                              deps_.hasher.HashAndWait(*std::move(input.password), call.deadline));
    }
    WARDEN_ASSIGN_OR_RETURN(model::User user, deps_.users.Create(call.actor(), input.user));
    ToProto(user, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::GetUser(grpc::CallbackServerContext* ctx,
                                                const v1::GetUserRequest* request,
                                                v1::User* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    absl::StatusOr<model::User> user;
    switch (request->key_case()) {
      case v1::GetUserRequest::kId:
        WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
        user = deps_.users.GetById(request->id());
        break;
      case v1::GetUserRequest::kUsername: {
        WARDEN_ASSIGN_OR_RETURN(std::string username,
                                NormalizeUsername("username", request->username()));
        user = deps_.users.GetByUsername(username);
        break;
      }
      default:
        return absl::InvalidArgumentError("set either id or username");
    }
    if (!user.ok()) return user.status();
    ToProto(*user, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListUsers(grpc::CallbackServerContext* ctx,
                                                  const v1::ListUsersRequest* request,
                                                  v1::ListUsersResponse* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(int page_size, paging::ResolvePageSize(request->page_size()));
    WARDEN_ASSIGN_OR_RETURN(std::string prefix,
                            NormalizeUsernamePrefix("username_prefix", request->username_prefix()));
    const std::string query = absl::StrCat("users|", prefix);
    WARDEN_ASSIGN_OR_RETURN(std::string after,
                            paging::DecodePageToken(request->page_token(), query));
    WARDEN_ASSIGN_OR_RETURN(model::UserPage page, deps_.reads.users.List(prefix, after, page_size));
    for (const model::User& user : page.users) ToProto(user, response->add_users());
    if (page.last_username) {
      response->set_next_page_token(paging::EncodePageToken(query, *page.last_username));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::UpdateUser(grpc::CallbackServerContext* ctx,
                                                   const v1::UpdateUserRequest* request,
                                                   v1::User* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(ValidatedUserUpdate input, ValidateUpdateUser(*request));
    if (input.password) {
      WARDEN_ASSIGN_OR_RETURN(input.changes.password_hash,
                              deps_.hasher.HashAndWait(*std::move(input.password), call.deadline));
    }
    WARDEN_ASSIGN_OR_RETURN(
        model::User user,
        deps_.users.Update(call.actor(), input.id, input.changes, admission::ApplyPolicy));
    ToProto(user, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::DeleteUser(grpc::CallbackServerContext* ctx,
                                                   const v1::DeleteUserRequest* request,
                                                   v1::DeleteUserResponse*) {
  return Serve(ctx, Access::kWrite, [this, request](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
    return deps_.users.Delete(call.actor(), request->id());
  });
}

}  // namespace warden::control::services
