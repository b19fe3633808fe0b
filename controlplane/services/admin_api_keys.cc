#include "absl/strings/str_cat.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {

// "wak_": Warden admin key.
inline constexpr absl::string_view kApiKeyPrefix = "wak_";

grpc::ServerUnaryReactor* AdminService::CreateApiKey(grpc::CallbackServerContext* ctx,
                                                     const v1::CreateApiKeyRequest* request,
                                                     v1::CreateApiKeyResponse* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateKeyName("name", request->name()));
    WARDEN_ASSIGN_OR_RETURN(model::Role role, ParseRole("role", request->role()));
    std::string secret = secrets::NewToken(kApiKeyPrefix);
    WARDEN_ASSIGN_OR_RETURN(
        model::ApiKey key,
        deps_.api_keys.Create(call.actor(), request->name(), role, secrets::Sha256Hex(secret)));
    ToProto(key, response->mutable_key());
    response->set_secret(std::move(secret));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListApiKeys(grpc::CallbackServerContext* ctx,
                                                    const v1::ListApiKeysRequest* request,
                                                    v1::ListApiKeysResponse* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(std::vector<model::ApiKey> keys,
                            deps_.api_keys.List(request->include_revoked()));
    for (const model::ApiKey& key : keys) ToProto(key, response->add_keys());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::RevokeApiKey(grpc::CallbackServerContext* ctx,
                                                     const v1::RevokeApiKeyRequest* request,
                                                     v1::ApiKey* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
    WARDEN_ASSIGN_OR_RETURN(model::ApiKey key, deps_.api_keys.Revoke(call.actor(), request->id()));
    ToProto(key, response);
    return absl::OkStatus();
  });
}

}  // namespace warden::control::services
