#include "tests/support/agent_helpers.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"

namespace warden::testing {

std::unique_ptr<grpc::ClientContext> FleetClient::AdminContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", admin_key_));
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return context;
}

std::unique_ptr<grpc::ClientContext> FleetClient::NodeContext(const std::string& credential) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!credential.empty())
    context->AddMetadata("authorization", absl::StrCat("Bearer ", credential));
  context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return context;
}

TestNode FleetClient::CreateNode(const std::string& name, NodeTrust trust) {
  v1::CreateNodeRequest request;
  request.set_name(name);
  request.set_trusted_authenticator(trust == NodeTrust::kTrustedAuthenticator);
  v1::CreateNodeResponse response;
  grpc::Status status = admin_->CreateNode(AdminContext().get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return TestNode{.node = response.node(), .credential = response.credential()};
}

v1::User FleetClient::CreateUser(const std::string& username, int max_connections,
                                 v1::LimitPolicy policy, int grace_seconds,
                                 const std::string& password) {
  v1::CreateUserRequest request;
  request.mutable_user()->set_username(username);
  request.mutable_user()->set_max_connections(max_connections);
  request.mutable_user()->set_limit_policy(policy);
  request.mutable_user()->set_grace_seconds(grace_seconds);
  request.mutable_user()->set_password(password);
  v1::User user;
  grpc::Status status = admin_->CreateUser(AdminContext().get(), request, &user);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return user;
}

void FleetClient::SetNodeStateForTest(const std::string& database_url, const std::string& node_id,
                                      const std::string& state) {
  pqxx::connection connection(database_url);
  pqxx::nontransaction tx(connection);
  tx.exec_params("UPDATE nodes SET state = $2 WHERE id = $1::uuid", node_id, state);
}

grpc::Status FleetClient::AdmitAsserted(const TestNode& node, const std::string& username,
                                        const std::string& session_key, v1::AdmitResponse* response,
                                        v1::Protocol protocol) {
  v1::AdmitRequest request;
  request.set_protocol(protocol);
  request.set_session_key(session_key);
  request.mutable_asserted_user()->set_username(username);
  request.set_device_label(absl::StrCat("device-", session_key));
  return Admit(node.credential, request, response);
}

v1::AdmitResponse FleetClient::AdmitAssertedOk(const TestNode& node, const std::string& username,
                                               const std::string& session_key) {
  v1::AdmitResponse response;
  grpc::Status status = AdmitAsserted(node, username, session_key, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

grpc::Status FleetClient::Admit(const std::string& credential, const v1::AdmitRequest& request,
                                v1::AdmitResponse* response) {
  return agent_->Admit(NodeContext(credential).get(), request, response);
}

grpc::Status FleetClient::Close(const TestNode& node, const std::string& session_key,
                                v1::CloseSessionResponse* response, const std::string& reason) {
  v1::CloseSessionRequest request;
  request.set_session_key(session_key);
  request.set_reason(reason);
  request.set_rx_bytes(1000);
  request.set_tx_bytes(2000);
  return agent_->CloseSession(NodeContext(node.credential).get(), request, response);
}

}  // namespace warden::testing
