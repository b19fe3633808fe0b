// API keys: who may call AdminService, and how keys are kept.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "common/secrets.h"
#include "tests/support/control_plane_fixture.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class AdminAuthTest : public ControlPlaneTest {
 protected:
  v1::CreateApiKeyResponse CreateKey(const std::string& name, v1::ApiKeyRole role) {
    v1::CreateApiKeyRequest request;
    request.set_name(name);
    request.set_role(role);
    v1::CreateApiKeyResponse response;
    grpc::Status status = Admin()->CreateApiKey(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status ListUsersWith(const std::string& key) {
    v1::ListUsersResponse response;
    return Admin()->ListUsers(Context(key).get(), v1::ListUsersRequest(), &response);
  }

  grpc::Status CreateUserWith(const std::string& key, const std::string& username) {
    v1::CreateUserRequest request;
    request.mutable_user()->set_username(username);
    v1::User out;
    return Admin()->CreateUser(Context(key).get(), request, &out);
  }
};

TEST_F(AdminAuthTest, MissingOrWrongKeyIsUnauthenticated) {
  grpc::Status missing = ListUsersWith("");
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(missing.error_message(), HasSubstr("authorization: Bearer"));

  const std::string wrong = secrets::NewToken("wak_");
  grpc::Status bad = ListUsersWith(wrong);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(bad.error_message(), ::testing::Not(HasSubstr(wrong)));

  grpc::ClientContext basic;
  basic.AddMetadata("authorization", std::string("Basic ") + kTestAdminKey);
  v1::ListUsersResponse response;
  EXPECT_EQ(Admin()->ListUsers(&basic, v1::ListUsersRequest(), &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AdminAuthTest, ViewerMayReadButNotWrite) {
  const std::string viewer = CreateKey("dashboard", v1::VIEWER).secret();
  EXPECT_TRUE(ListUsersWith(viewer).ok());
  grpc::Status write = CreateUserWith(viewer, "mallory");
  EXPECT_EQ(write.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(write.error_message(), HasSubstr("\"dashboard\" has the viewer role"));
  v1::CreateApiKeyRequest escalate;
  escalate.set_name("mine");
  escalate.set_role(v1::ADMIN);
  v1::CreateApiKeyResponse response;
  EXPECT_EQ(Admin()->CreateApiKey(Context(viewer).get(), escalate, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// Quota support calls change what users may use; webhooks can point the
// control plane at any URL and read every event: both need the admin role,
// even to list. The role is checked before the request is looked at.
TEST_F(AdminAuthTest, ViewerMayNotTouchQuotasOrWebhooks) {
  const std::string viewer = CreateKey("support-desk", v1::VIEWER).secret();
  const std::string user = "00000000-0000-0000-0000-000000000001";
  v1::QuotaStatus quota;
  v1::ResetUsageRequest reset;
  reset.set_user_id(user);
  EXPECT_EQ(Admin()->ResetUsage(Context(viewer).get(), reset, &quota).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::GrantExtraQuotaRequest grant;
  grant.set_user_id(user);
  grant.set_bytes(1);
  EXPECT_EQ(Admin()->GrantExtraQuota(Context(viewer).get(), grant, &quota).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::CreateWebhookRequest create;
  create.set_url("https://hooks.example.com/warden");
  v1::CreateWebhookResponse created;
  EXPECT_EQ(Admin()->CreateWebhook(Context(viewer).get(), create, &created).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListWebhooksResponse webhooks;
  EXPECT_EQ(Admin()
                ->ListWebhooks(Context(viewer).get(), v1::ListWebhooksRequest(), &webhooks)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListWebhookDeliveriesResponse deliveries;
  EXPECT_EQ(Admin()
                ->ListWebhookDeliveries(Context(viewer).get(), v1::ListWebhookDeliveriesRequest(),
                                        &deliveries)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::TestWebhookRequest test;
  v1::WebhookDelivery delivery;
  EXPECT_EQ(Admin()->TestWebhook(Context(viewer).get(), test, &delivery).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  // Reading an endpoint shows its URL and failures; changing it moves events.
  const std::string webhook = "00000000-0000-0000-0000-000000000002";
  v1::GetWebhookRequest get;
  get.set_webhook_id(webhook);
  v1::Webhook found;
  EXPECT_EQ(Admin()->GetWebhook(Context(viewer).get(), get, &found).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::UpdateWebhookRequest update;
  update.mutable_webhook()->set_id(webhook);
  update.mutable_webhook()->set_url("https://elsewhere.example.com/");
  update.mutable_update_mask()->add_paths("url");
  EXPECT_EQ(Admin()->UpdateWebhook(Context(viewer).get(), update, &found).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::DeleteWebhookRequest remove;
  remove.set_webhook_id(webhook);
  v1::DeleteWebhookResponse removed;
  EXPECT_EQ(Admin()->DeleteWebhook(Context(viewer).get(), remove, &removed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::RotateWebhookSecretRequest rotate;
  rotate.set_webhook_id(webhook);
  EXPECT_EQ(Admin()->RotateWebhookSecret(Context(viewer).get(), rotate, &created).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::RedeliverWebhookRequest redeliver;
  redeliver.set_delivery_id(1);
  EXPECT_EQ(Admin()->RedeliverWebhook(Context(viewer).get(), redeliver, &delivery).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM usage_adjustments"), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM webhooks"), 0);
}

// The single sign-on providers are configuration a viewer may read (there
// are no secrets in the answer); without a key, nothing. Without
// --oidc-config, the login calls say single sign-on is not set up.
TEST_F(AdminAuthTest, ViewerMayListSingleSignOnProvidersAndNobodyElse) {
  const std::string viewer = CreateKey("dashboard", v1::VIEWER).secret();
  v1::ListOidcProvidersResponse providers;
  grpc::Status listed =
      Admin()->ListOidcProviders(Context(viewer).get(), v1::ListOidcProvidersRequest(), &providers);
  ASSERT_TRUE(listed.ok()) << listed.error_message();
  EXPECT_EQ(providers.providers_size(), 0);
  EXPECT_EQ(Admin()
                ->ListOidcProviders(Context("").get(), v1::ListOidcProvidersRequest(), &providers)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  auto sessions = v1::SessionService::NewStub(Channel());
  v1::StartDeviceLoginResponse started;
  grpc::ClientContext context;
  grpc::Status status =
      sessions->StartDeviceLogin(&context, v1::StartDeviceLoginRequest(), &started);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("single sign-on is not configured"));
  v1::PollDeviceLoginRequest poll;
  poll.set_device_login_id(secrets::NewToken("wdl_"));
  v1::PollDeviceLoginResponse answer;
  grpc::ClientContext poll_context;
  EXPECT_EQ(sessions->PollDeviceLogin(&poll_context, poll, &answer).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AdminAuthTest, NewKeyIsShownOnceAndStoredOnlyAsHash) {
  v1::CreateApiKeyResponse created = CreateKey("ci-bot", v1::ADMIN);
  EXPECT_TRUE(secrets::LooksLikeToken(created.secret(), "wak_"));
  EXPECT_EQ(created.key().name(), "ci-bot");
  EXPECT_EQ(created.key().role(), v1::ADMIN);
  EXPECT_TRUE(CreateUserWith(created.secret(), "made-by-bot").ok());

  v1::ListApiKeysResponse listed;
  ASSERT_TRUE(Admin()->ListApiKeys(Context().get(), v1::ListApiKeysRequest(), &listed).ok());
  EXPECT_EQ(listed.keys_size(), 2);  // bootstrap + ci-bot
  EXPECT_THAT(listed.DebugString(), ::testing::Not(HasSubstr(created.secret())));

  pqxx::connection connection(db_->url());
  pqxx::nontransaction tx(connection);
  pqxx::row row = tx.exec_params1(
      "SELECT encode(key_hash, 'hex'), length(key_hash) FROM api_keys WHERE name = $1", "ci-bot");
  EXPECT_EQ(row[0].as<std::string>(), secrets::Sha256Hex(created.secret()));
  EXPECT_EQ(row[1].as<int>(), 32);
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM api_keys WHERE key_hash::text LIKE '%' || $1 "
                            "|| '%' OR name LIKE '%' || $1 || '%'",
                            created.secret().substr(4))[0]
                .as<int>(),
            0);
}

TEST_F(AdminAuthTest, DuplicateKeyNameIsAlreadyExists) {
  CreateKey("ops", v1::VIEWER);
  v1::CreateApiKeyRequest request;
  request.set_name("ops");
  request.set_role(v1::ADMIN);
  v1::CreateApiKeyResponse response;
  grpc::Status status = Admin()->CreateApiKey(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(status.error_message(), HasSubstr("\"ops\""));
  request.set_name("bad name!");
  EXPECT_EQ(Admin()->CreateApiKey(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.set_name("norole");
  request.set_role(v1::API_KEY_ROLE_UNSPECIFIED);
  EXPECT_EQ(Admin()->CreateApiKey(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(AdminAuthTest, RevokedKeyIsRefusedAndLastAdminKeyIsKept) {
  v1::CreateApiKeyResponse second = CreateKey("second-admin", v1::ADMIN);
  v1::RevokeApiKeyRequest revoke;
  revoke.set_id(second.key().id());
  v1::ApiKey revoked;
  ASSERT_TRUE(Admin()->RevokeApiKey(Context().get(), revoke, &revoked).ok());
  EXPECT_TRUE(revoked.has_revoked_at());
  EXPECT_EQ(ListUsersWith(second.secret()).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  v1::ListApiKeysResponse listed;
  ASSERT_TRUE(Admin()->ListApiKeys(Context().get(), v1::ListApiKeysRequest(), &listed).ok());
  ASSERT_EQ(listed.keys_size(), 1);
  const std::string bootstrap_id = listed.keys(0).id();
  revoke.set_id(bootstrap_id);
  grpc::Status last = Admin()->RevokeApiKey(Context().get(), revoke, &revoked);
  EXPECT_EQ(last.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(last.error_message(), HasSubstr("last valid admin key"));
  EXPECT_TRUE(ListUsersWith(kTestAdminKey).ok());

  v1::ListApiKeysRequest with_revoked;
  with_revoked.set_include_revoked(true);
  ASSERT_TRUE(Admin()->ListApiKeys(Context().get(), with_revoked, &listed).ok());
  EXPECT_EQ(listed.keys_size(), 2);

  revoke.set_id("3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  EXPECT_EQ(Admin()->RevokeApiKey(Context().get(), revoke, &revoked).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(AdminAuthTest, HealthNeedsNoKey) {
  EXPECT_EQ(HealthStatus(""), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthStatus("warden.v1.AdminService"), grpc::health::v1::HealthCheckResponse::SERVING);
}

}  // namespace
}  // namespace warden::testing
