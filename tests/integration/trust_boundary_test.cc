// What a node credential may do, against a real PostgreSQL through gRPC: a
// node names a user without a password or ticket only through a WireGuard
// device provisioned to it (or as a trusted authenticator); its inventory
// cannot bring in users it could not have admitted; its enrolment grants
// only what the administrator's ticket says.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::string WireGuardKey(int seed) {
  std::string bytes(32, '\0');
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<char>((seed * 37 + i * 11) & 0xff);
  return absl::Base64Escape(bytes);
}

class TrustBoundaryTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
  }

  v1::AdmitResponse Assert(const TestNode& node, const std::string& username,
                           const std::string& key, v1::Protocol protocol) {
    v1::AdmitResponse response;
    grpc::Status status = fleet_->AdmitAsserted(node, username, key, &response, protocol);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  v1::Device RegisterDevice(const std::string& username, const std::string& key) {
    v1::RegisterDeviceRequest request;
    request.set_username(username);
    request.set_public_key(key);
    v1::Device device;
    grpc::Status status =
        fleet_->admin().RegisterDevice(fleet_->AdminContext().get(), request, &device);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return device;
  }

  std::string EnrollmentTicket(const std::string& node_name,
                               std::vector<v1::Protocol> protocols = {}, bool trusted = false) {
    v1::CreateEnrollmentTicketRequest request;
    request.set_node_name(node_name);
    for (v1::Protocol protocol : protocols) request.add_protocols(protocol);
    request.set_trusted_authenticator(trusted);
    v1::CreateEnrollmentTicketResponse response;
    grpc::Status status =
        fleet_->admin().CreateEnrollmentTicket(fleet_->AdminContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.ticket();
  }

  grpc::Status Enroll(const std::string& ticket, const std::string& request_id,
                      v1::EnrollResponse* response) {
    v1::EnrollRequest request;
    request.set_ticket(ticket);
    request.set_request_id(request_id);
    request.mutable_facts()->set_hostname("vpn-host");
    request.mutable_facts()->set_agent_version("test");
    // What the agent claims to run is not what it is allowed to carry.
    request.mutable_facts()->add_protocols(v1::OPENVPN);
    request.mutable_facts()->add_protocols(v1::QUIC);
    grpc::ClientContext context;
    return fleet_->agent().Enroll(&context, request, response);
  }

  std::unique_ptr<FleetClient> fleet_;
};

TEST_F(TrustBoundaryTest, AnUntrustedNodeCannotNameAUserForOpenVpnOrQuic) {
  TestNode ams = fleet_->CreateNode("ams-1");
  TestNode rogue = fleet_->CreateNode("rogue-1", NodeTrust::kUntrusted);
  fleet_->CreateUser("alice", 1);  // EVICT_OLDEST: a believed claim would evict
  v1::AdmitResponse honest = fleet_->AdmitAssertedOk(ams, "alice", "ovpn:ams:1");
  ASSERT_TRUE(honest.has_admitted());

  for (v1::Protocol protocol : {v1::OPENVPN, v1::QUIC}) {
    v1::AdmitResponse forged = Assert(rogue, "alice", absl::StrCat("forged:", protocol), protocol);
    ASSERT_TRUE(forged.has_denied()) << forged.DebugString();
    EXPECT_EQ(forged.denied().reason(), v1::BAD_CREDENTIALS);
    EXPECT_EQ(forged.denied().message(), "unknown user or wrong password");
  }
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE state = 'active'"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM commands"), 0) << "nothing evicted on ams-1";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.deny' "
                     "AND details->>'detail' LIKE '%not a trusted authenticator%'"),
            2);
}

TEST_F(TrustBoundaryTest, AWireGuardKeyVouchesOnlyOnNodesItIsProvisionedTo) {
  fleet_->CreateUser("alice", 0);
  fleet_->CreateUser("bob", 0);
  const std::string alice_key = WireGuardKey(1);
  const std::string bob_key = WireGuardKey(2);
  RegisterDevice("alice", alice_key);
  RegisterDevice("bob", bob_key);
  TestNode plain = fleet_->CreateNode("plain-1", NodeTrust::kUntrusted);
  TestNode wg = fleet_->CreateNode("wg-1", NodeTrust::kUntrusted);

  // plain-1 runs no WireGuard driver: Warden never provisioned the key there.
  v1::AdmitResponse not_provisioned =
      Assert(plain, "alice", absl::StrCat("wg:", alice_key), v1::WIREGUARD);
  ASSERT_TRUE(not_provisioned.has_denied());
  EXPECT_EQ(not_provisioned.denied().reason(), v1::BAD_CREDENTIALS);

  FakeAgent agent(fleet_->agent(), wg.credential, {"wireguard"});
  ASSERT_TRUE(agent.welcomed());
  v1::AdmitResponse provisioned =
      Assert(wg, "alice", absl::StrCat("wg:", alice_key), v1::WIREGUARD);
  EXPECT_TRUE(provisioned.has_admitted()) << provisioned.DebugString();
  // bob's key is provisioned here, but it is not alice's.
  v1::AdmitResponse wrong_user = Assert(wg, "alice", absl::StrCat("wg:", bob_key), v1::WIREGUARD);
  ASSERT_TRUE(wrong_user.has_denied());
  EXPECT_EQ(wrong_user.denied().reason(), v1::BAD_CREDENTIALS);
  // A WireGuard-looking key over another protocol vouches for nothing.
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(wg, absl::StrCat("wg:", alice_key), &closed).ok());
  v1::AdmitResponse other_protocol =
      Assert(wg, "alice", absl::StrCat("wg:", alice_key), v1::OPENVPN);
  EXPECT_TRUE(other_protocol.has_denied()) << other_protocol.DebugString();
}

TEST_F(TrustBoundaryTest, ATrustedAuthenticatorIsSetByAnAdminAndAudited) {
  TestNode node = fleet_->CreateNode("gw-1", NodeTrust::kUntrusted);
  fleet_->CreateUser("carol", 0);
  EXPECT_TRUE(Assert(node, "carol", "ovpn:1", v1::OPENVPN).has_denied());

  v1::UpdateNodeRequest update;
  update.mutable_node()->set_id(node.node.id());
  update.mutable_node()->set_trusted_authenticator(true);
  update.mutable_update_mask()->add_paths("trusted_authenticator");
  v1::Node updated;
  ASSERT_TRUE(fleet_->admin().UpdateNode(fleet_->AdminContext().get(), update, &updated).ok());
  EXPECT_TRUE(updated.trusted_authenticator());
  EXPECT_TRUE(Assert(node, "carol", "ovpn:2", v1::OPENVPN).has_admitted());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'node.update' "
                     "AND details->>'trusted_authenticator' = 'true'"),
            1);

  // A viewer may not, and the mask must name what changes.
  v1::CreateApiKeyRequest viewer_request;
  viewer_request.set_name("dashboard");
  viewer_request.set_role(v1::VIEWER);
  v1::CreateApiKeyResponse viewer;
  ASSERT_TRUE(
      fleet_->admin().CreateApiKey(fleet_->AdminContext().get(), viewer_request, &viewer).ok());
  EXPECT_EQ(
      fleet_->admin().UpdateNode(Context(viewer.secret()).get(), update, &updated).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  update.mutable_update_mask()->set_paths(0, "name");
  grpc::Status bad = fleet_->admin().UpdateNode(fleet_->AdminContext().get(), update, &updated);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("update_mask"));
}

TEST_F(TrustBoundaryTest, AnInventoryCannotBringInUsersTheNodeCouldNotHaveAdmitted) {
  TestNode node = fleet_->CreateNode("ams-1", NodeTrust::kUntrusted);
  fleet_->CreateUser("dave", 1);
  fleet_->CreateUser("mallory", 0);
  // dave had a session here a moment ago (admitted with his password, say):
  // the agent may have let him in again while the control plane was away.
  {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    tx.exec_params(
        "INSERT INTO sessions (user_id, node_id, protocol, session_key, state, closed_at, "
        "close_reason) SELECT id, $1::uuid, 'openvpn', 'ovpn:old', 'closed', now(), 'client' "
        "FROM users WHERE username = 'dave'",
        node.node.id());
  }
  auto item = [](const std::string& key, const std::string& username) {
    v1::InventorySession session;
    session.set_protocol(v1::OPENVPN);
    session.set_session_key(key);
    session.set_username(username);
    return session;
  };
  FakeAgent agent(
      fleet_->agent(), node.credential, {"openvpn"},
      {item("ovpn:dave", "dave"), item("ovpn:mallory", "mallory"), item("ovpn:nobody", "nobody")});
  ASSERT_TRUE(agent.welcomed());
  ASSERT_EQ(agent.welcome().adopted_size(), 1);
  EXPECT_EQ(agent.welcome().adopted(0).session_key(), "ovpn:dave");

  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                     "WHERE u.username = 'mallory' AND s.state = 'closing' "
                     "AND s.close_reason = 'not_admissible'"),
            1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.not_admissible'"),
            1);
  std::vector<std::string> killed;
  for (const char* key : {"ovpn:mallory", "ovpn:nobody"}) {
    std::optional<v1::Command> kill = agent.WaitForCommand([&](const v1::Command& command) {
      return command.kind() == v1::KILL_SESSION && command.session_key() == key;
    });
    ASSERT_TRUE(kill.has_value()) << key;
    EXPECT_EQ(kill->reason(), "not_admissible");
    killed.push_back(kill->session_key());
  }
  EXPECT_THAT(killed, UnorderedElementsAre("ovpn:mallory", "ovpn:nobody"));
}

TEST_F(TrustBoundaryTest, AKeyKilledOnTheNodeIsNotAdoptedBackFromItsInventory) {
  TestNode node = fleet_->CreateNode("ams-1");  // even a trusted authenticator
  fleet_->CreateUser("erin", 0);
  v1::AdmitResponse admitted = fleet_->AdmitAssertedOk(node, "erin", "ovpn:e:1");
  v1::KillSessionRequest kill;
  kill.set_session_id(admitted.admitted().session_id());
  v1::KillSessionResponse killed;
  ASSERT_TRUE(fleet_->admin().KillSession(fleet_->AdminContext().get(), kill, &killed).ok());
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "ovpn:e:1", &closed).ok());

  // The node says the tunnel is up after all: the kill is not undone.
  v1::InventorySession ghost;
  ghost.set_protocol(v1::OPENVPN);
  ghost.set_session_key("ovpn:e:1");
  ghost.set_username("erin");
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"}, {ghost});
  ASSERT_TRUE(agent.welcomed());
  EXPECT_EQ(agent.welcome().adopted_size(), 0);
  EXPECT_TRUE(agent
                  .WaitForCommand([](const v1::Command& command) {
                    return command.kind() == v1::KILL_SESSION &&
                           command.session_key() == "ovpn:e:1" &&
                           command.reason() == "not_admissible";
                  })
                  .has_value());
}

TEST_F(TrustBoundaryTest, EnrolmentGrantsWhatTheTicketSaysNotWhatTheAgentClaims) {
  v1::EnrollResponse enrolled;
  ASSERT_TRUE(Enroll(EnrollmentTicket("wg-9", {v1::WIREGUARD}), "", &enrolled).ok());
  v1::GetNodeRequest get;
  get.set_name("wg-9");
  v1::Node node;
  ASSERT_TRUE(fleet_->admin().GetNode(fleet_->AdminContext().get(), get, &node).ok());
  ASSERT_EQ(node.protocols_size(), 1);
  EXPECT_EQ(node.protocols(0), v1::WIREGUARD);
  EXPECT_FALSE(node.trusted_authenticator());

  // Enrolling again with a ticket that names no protocols keeps the node's,
  // and applies the trust the ticket grants.
  ASSERT_TRUE(Enroll(EnrollmentTicket("wg-9", {}, /*trusted=*/true), "", &enrolled).ok());
  ASSERT_TRUE(fleet_->admin().GetNode(fleet_->AdminContext().get(), get, &node).ok());
  ASSERT_EQ(node.protocols_size(), 1);
  EXPECT_EQ(node.protocols(0), v1::WIREGUARD);
  EXPECT_TRUE(node.trusted_authenticator());
}

TEST_F(TrustBoundaryTest, TheSameAgentMayRedeemItsTicketAgainAfterALostAnswer) {
  const std::string ticket = EnrollmentTicket("ams-7");
  const std::string request_id = "0123456789abcdef0123456789abcdef";
  v1::EnrollResponse first, again;
  ASSERT_TRUE(Enroll(ticket, request_id, &first).ok());
  // The answer was lost; the agent asks again with the same id.
  ASSERT_TRUE(Enroll(ticket, request_id, &again).ok());
  EXPECT_EQ(again.node_id(), first.node_id());
  EXPECT_NE(again.credential(), first.credential());
  // Only the newest credential works.
  v1::AdmitResponse response;
  v1::AdmitRequest probe;
  probe.set_protocol(v1::OPENVPN);
  probe.set_session_key("probe");
  probe.mutable_asserted_user()->set_username("nobody");
  EXPECT_EQ(fleet_->Admit(first.credential(), probe, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(fleet_->Admit(again.credential(), probe, &response).ok());

  // Anyone else holding the ticket gets nothing.
  v1::EnrollResponse stolen;
  EXPECT_EQ(Enroll(ticket, "ffffffffffffffffffffffffffffffff", &stolen).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Enroll(ticket, "", &stolen).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Enroll(ticket, "short", &stolen).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'node.reenroll' "
                     "AND details->>'retry_after_lost_answer' = 'true'"),
            1);
}

}  // namespace
}  // namespace warden::testing
