#pragma once

// Calls a test makes as an admin setting up nodes and users, and as an agent.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "warden/v1/admin.grpc.pb.h"
#include "warden/v1/agent.grpc.pb.h"

namespace warden::testing {

struct TestNode {
  v1::Node node;
  std::string credential;
};

// Whether a node may name users without their password or a ticket. Tests
// of the admission rules let their nodes vouch; tests of the trust boundary
// use nodes that may not.
enum class NodeTrust { kTrustedAuthenticator, kUntrusted };

class FleetClient {
 public:
  FleetClient(std::shared_ptr<grpc::Channel> channel, std::string admin_key)
      : admin_(v1::AdminService::NewStub(channel)),
        agent_(v1::AgentService::NewStub(channel)),
        admin_key_(std::move(admin_key)) {}

  TestNode CreateNode(const std::string& name, NodeTrust trust = NodeTrust::kTrustedAuthenticator);
  v1::User CreateUser(const std::string& username, int max_connections,
                      v1::LimitPolicy policy = v1::EVICT_OLDEST, int grace_seconds = 0,
                      const std::string& password = "");
  void SetNodeStateForTest(const std::string& database_url, const std::string& node_id,
                           const std::string& state);

  // Admit as `node` for a user the node asserts (by username).
  grpc::Status AdmitAsserted(const TestNode& node, const std::string& username,
                             const std::string& session_key, v1::AdmitResponse* response,
                             v1::Protocol protocol = v1::OPENVPN);
  // The same, for a call that must succeed (a gtest failure otherwise); the
  // answer may still be a denial.
  v1::AdmitResponse AdmitAssertedOk(const TestNode& node, const std::string& username,
                                    const std::string& session_key);
  grpc::Status Admit(const std::string& credential, const v1::AdmitRequest& request,
                     v1::AdmitResponse* response);
  grpc::Status Close(const TestNode& node, const std::string& session_key,
                     v1::CloseSessionResponse* response, const std::string& reason = "gone");

  v1::AdminService::Stub& admin() { return *admin_; }
  v1::AgentService::Stub& agent() { return *agent_; }
  std::unique_ptr<grpc::ClientContext> AdminContext() const;
  static std::unique_ptr<grpc::ClientContext> NodeContext(const std::string& credential);

 private:
  std::unique_ptr<v1::AdminService::Stub> admin_;
  std::unique_ptr<v1::AgentService::Stub> agent_;
  std::string admin_key_;
};

}  // namespace warden::testing
