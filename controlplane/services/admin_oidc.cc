// AdminService: the single sign-on providers, as configured (no secrets).

#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"

namespace warden::control::services {

grpc::ServerUnaryReactor* AdminService::ListOidcProviders(grpc::CallbackServerContext* ctx,
                                                          const v1::ListOidcProvidersRequest*,
                                                          v1::ListOidcProvidersResponse* response) {
  return Serve(ctx, Access::kRead, [this, response](const Call&) -> absl::Status {
    for (const oidc::Provider* provider : deps_.sso.providers()) {
      const oidc::ProviderConfig& config = provider->config();
      v1::OidcProvider* out = response->add_providers();
      out->set_name(config.name);
      out->set_display_name(config.display_name);
      out->set_issuer(config.issuer);
      out->set_client_id(config.client_id);
      out->set_client_auth(std::string(oidc::ClientAuthName(config.client_auth)));
      for (const std::string& scope : config.scopes) out->add_scopes(scope);
      out->set_username_claim(config.username_claim);
      out->set_groups_claim(config.groups_claim);
      out->set_create_users(config.create_users);
      for (const std::string& group : config.allowed_groups) out->add_allowed_groups(group);
      for (const oidc::GroupPlan& entry : config.group_plans) {
        v1::OidcGroupPlan* plan = out->add_group_plans();
        plan->set_group(entry.group);
        plan->set_plan(entry.plan);
      }
      const oidc::ProviderStatus status = provider->Status();
      out->set_discovery_error(status.discovery_error);
      if (status.keys_fetched_at) ToProto(*status.keys_fetched_at, out->mutable_keys_fetched_at());
      out->set_key_count(status.key_count);
    }
    return absl::OkStatus();
  });
}

}  // namespace warden::control::services
