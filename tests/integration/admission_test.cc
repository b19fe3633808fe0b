// AgentService.Admit / CloseSession and the admin views of nodes and
// sessions, against a real PostgreSQL, through gRPC.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class AdmissionTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  std::unique_ptr<FleetClient> fleet_;
};

TEST_F(AdmissionTest, AdmitsAndAnswersARetryWithTheSameSession) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::User user = fleet_->CreateUser("alice", 2);
  v1::AdmitResponse first = fleet_->AdmitAssertedOk(node, "alice", "ovpn:ams-1:0");
  ASSERT_TRUE(first.has_admitted()) << first.DebugString();
  EXPECT_EQ(first.admitted().user_id(), user.id());
  EXPECT_FALSE(first.admitted().already_live());
  v1::AdmitResponse retry = fleet_->AdmitAssertedOk(node, "alice", "ovpn:ams-1:0");
  ASSERT_TRUE(retry.has_admitted());
  EXPECT_EQ(retry.admitted().session_id(), first.admitted().session_id());
  EXPECT_TRUE(retry.admitted().already_live());
  EXPECT_EQ(Count("SELECT count(*) FROM sessions"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = 'session.admit'"), 1);
}

TEST_F(AdmissionTest, EvictsTheOldestAndQueuesExactlyOneKill) {
  TestNode ams = fleet_->CreateNode("ams-1");
  TestNode fra = fleet_->CreateNode("fra-2");
  fleet_->CreateUser("bob", 1);
  v1::AdmitResponse first = fleet_->AdmitAssertedOk(ams, "bob", "wg:a");
  v1::AdmitResponse second = fleet_->AdmitAssertedOk(fra, "bob", "wg:b");
  ASSERT_TRUE(second.has_admitted());
  ASSERT_EQ(second.admitted().evicted_size(), 1);
  EXPECT_EQ(second.admitted().evicted(0).session_id(), first.admitted().session_id());
  EXPECT_EQ(second.admitted().evicted(0).node_name(), "ams-1");

  pqxx::connection connection(db_->url());
  pqxx::nontransaction tx(connection);
  pqxx::result commands = tx.exec(
      "SELECT node_id::text, session_id::text, kind, payload->>'session_key', "
      "due_at <= now() FROM commands");
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_EQ(commands[0][0].as<std::string>(), ams.node.id());
  EXPECT_EQ(commands[0][1].as<std::string>(), first.admitted().session_id());
  EXPECT_EQ(commands[0][2].as<std::string>(), "kill_session");
  EXPECT_EQ(commands[0][3].as<std::string>(), "wg:a");
  EXPECT_TRUE(commands[0][4].as<bool>());
  EXPECT_EQ(tx.exec1("SELECT state FROM sessions WHERE session_key = 'wg:a'")[0].as<std::string>(),
            "closing");
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = 'session.evict'"), 1);
}

TEST_F(AdmissionTest, GraceDelaysTheKill) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("carol", 1, v1::EVICT_OLDEST, 30);
  fleet_->AdmitAssertedOk(node, "carol", "k1");
  v1::AdmitResponse second = fleet_->AdmitAssertedOk(node, "carol", "k2");
  ASSERT_EQ(second.admitted().evicted_size(), 1);
  const int64_t due = second.admitted().evicted(0).kill_due_at().seconds();
  EXPECT_NEAR(due, absl::ToUnixSeconds(absl::Now()) + 30, 5);
  EXPECT_EQ(Count("SELECT count(*) FROM commands WHERE due_at > now() + interval '20 seconds'"), 1);
}

TEST_F(AdmissionTest, RejectSaysWhichLimitAndTheAuditLogSaysWhere) {
  TestNode ams = fleet_->CreateNode("ams-1");
  TestNode fra = fleet_->CreateNode("fra-2");
  fleet_->CreateUser("dave", 2, v1::REJECT);
  fleet_->AdmitAssertedOk(fra, "dave", "k1");
  fleet_->AdmitAssertedOk(ams, "dave", "k2");
  v1::AdmitResponse third = fleet_->AdmitAssertedOk(fra, "dave", "k3");
  ASSERT_TRUE(third.has_denied());
  EXPECT_EQ(third.denied().reason(), v1::DEVICE_LIMIT_REACHED);
  EXPECT_EQ(third.denied().message(), "device limit 2 reached: 2 devices are connected");
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = 'session.deny' AND "
                  "details->>'detail' = 'active on nodes fra-2, ams-1'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM sessions WHERE state <> 'closed'"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM commands"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = 'session.deny' AND "
                  "details->>'reason' = 'device_limit_reached'"),
            1);
}

TEST_F(AdmissionTest, DeniesDisabledUsersAndDrainingNodes) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::User user = fleet_->CreateUser("erin", 0);
  v1::UpdateUserRequest disable;
  disable.mutable_user()->set_id(user.id());
  disable.mutable_user()->set_disabled(true);
  disable.mutable_update_mask()->add_paths("disabled");
  v1::User updated;
  ASSERT_TRUE(fleet_->admin().UpdateUser(fleet_->AdminContext().get(), disable, &updated).ok());
  v1::AdmitResponse denied = fleet_->AdmitAssertedOk(node, "erin", "k1");
  ASSERT_TRUE(denied.has_denied());
  EXPECT_EQ(denied.denied().reason(), v1::USER_DISABLED);

  fleet_->CreateUser("frank", 0);
  fleet_->SetNodeStateForTest(db_->url(), node.node.id(), "draining");
  v1::AdmitResponse draining = fleet_->AdmitAssertedOk(node, "frank", "k2");
  ASSERT_TRUE(draining.has_denied());
  EXPECT_EQ(draining.denied().reason(), v1::NODE_DRAINING);
}

TEST_F(AdmissionTest, ChecksPasswordsWithOneAnswerForEveryFailure) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("gina", 0, v1::EVICT_OLDEST, 0, "gina's password");
  fleet_->CreateUser("nopass", 0);
  auto admit = [&](const std::string& username, const std::string& password) {
    v1::AdmitRequest request;
    request.set_protocol(v1::OPENVPN);
    request.set_session_key(absl::StrCat("ovpn:", username, ":", password.size()));
    request.mutable_password()->set_username(username);
    request.mutable_password()->set_password(password);
    v1::AdmitResponse response;
    grpc::Status status = fleet_->Admit(node.credential, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  };
  EXPECT_TRUE(admit("GINA", "gina's password").has_admitted());
  for (const auto& [username, password] : std::vector<std::pair<std::string, std::string>>{
           {"gina", "gina-guess-123"}, {"nobody", "nobody-secret-9"}, {"nopass", "nopass-try-7"}}) {
    v1::AdmitResponse denied = admit(username, password);
    ASSERT_TRUE(denied.has_denied()) << username;
    EXPECT_EQ(denied.denied().reason(), v1::BAD_CREDENTIALS);
    EXPECT_EQ(denied.denied().message(), "unknown user or wrong password");
  }
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = 'session.deny'"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE details::text ~ "
                  "'gina''s password|gina-guess|nobody-secret|nopass-try'"),
            0);
}

TEST_F(AdmissionTest, RefusesUnknownAndRemovedNodes) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("hank", 0);
  v1::AdmitResponse response;
  EXPECT_EQ(
      fleet_->AdmitAsserted(TestNode{v1::Node(), "wnc_bogus"}, "hank", "k", &response).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(fleet_->AdmitAsserted(TestNode{}, "hank", "k", &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  v1::RemoveNodeRequest remove;
  remove.set_id(node.node.id());
  v1::Node removed;
  ASSERT_TRUE(fleet_->admin().RemoveNode(fleet_->AdminContext().get(), remove, &removed).ok());
  EXPECT_EQ(removed.state(), v1::NODE_STATE_REMOVED);
  EXPECT_EQ(fleet_->AdmitAsserted(node, "hank", "k", &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Count("SELECT count(*) FROM sessions"), 0);
}

TEST_F(AdmissionTest, RejectsMalformedRequestsNamingTheField) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("ivan", 0);
  struct Case {
    std::function<void(v1::AdmitRequest*)> mutate;
    grpc::StatusCode code;
    std::string names;
  };
  const Case cases[] = {
      {[](v1::AdmitRequest* r) { r->set_protocol(v1::PROTOCOL_UNSPECIFIED); },
       grpc::StatusCode::INVALID_ARGUMENT, "protocol"},
      {[](v1::AdmitRequest* r) { r->set_protocol(static_cast<v1::Protocol>(42)); },
       grpc::StatusCode::INVALID_ARGUMENT, "protocol"},
      {[](v1::AdmitRequest* r) { r->clear_session_key(); }, grpc::StatusCode::INVALID_ARGUMENT,
       "session_key"},
      {[](v1::AdmitRequest* r) { r->set_session_key(std::string(300, 'k')); },
       grpc::StatusCode::INVALID_ARGUMENT, "session_key"},
      {[](v1::AdmitRequest* r) { r->set_device_label("bad\nlabel"); },
       grpc::StatusCode::INVALID_ARGUMENT, "device_label"},
      {[](v1::AdmitRequest* r) { r->clear_asserted_user(); }, grpc::StatusCode::INVALID_ARGUMENT,
       "credential"},
      {[](v1::AdmitRequest* r) { r->mutable_asserted_user()->set_user_id("nope"); },
       grpc::StatusCode::INVALID_ARGUMENT, "asserted_user.user_id"},
      {[](v1::AdmitRequest* r) { r->set_connect_ticket("wct_x"); },
       grpc::StatusCode::INVALID_ARGUMENT, "connect_ticket"},
  };
  for (const Case& c : cases) {
    v1::AdmitRequest request;
    request.set_protocol(v1::WIREGUARD);
    request.set_session_key("wg:key");
    request.mutable_asserted_user()->set_username("ivan");
    c.mutate(&request);
    v1::AdmitResponse response;
    grpc::Status status = fleet_->Admit(node.credential, request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.names << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.names));
  }
  EXPECT_EQ(Count("SELECT count(*) FROM sessions"), 0);
}

TEST_F(AdmissionTest, UnknownAssertedUserIsBadCredentials) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::AdmitResponse response = fleet_->AdmitAssertedOk(node, "ghost", "k");
  ASSERT_TRUE(response.has_denied());
  EXPECT_EQ(response.denied().reason(), v1::BAD_CREDENTIALS);
}

TEST_F(AdmissionTest, NodeRegisteredForOtherProtocolsIsRefused) {
  v1::CreateNodeRequest request;
  request.set_name("wg-only");
  request.add_protocols(v1::WIREGUARD);
  request.set_trusted_authenticator(true);
  v1::CreateNodeResponse created;
  ASSERT_TRUE(fleet_->admin().CreateNode(fleet_->AdminContext().get(), request, &created).ok());
  fleet_->CreateUser("judy", 0);
  TestNode node{.node = created.node(), .credential = created.credential()};
  v1::AdmitResponse response;
  EXPECT_TRUE(fleet_->AdmitAsserted(node, "judy", "wg:1", &response, v1::WIREGUARD).ok());
  grpc::Status status = fleet_->AdmitAsserted(node, "judy", "ovpn:1", &response, v1::OPENVPN);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("not registered for protocol openvpn"));
}

TEST_F(AdmissionTest, ClosingIsIdempotentAndFinishesPendingKills) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("kim", 1);
  fleet_->AdmitAssertedOk(node, "kim", "old");
  fleet_->AdmitAssertedOk(node, "kim", "new");  // evicts "old"
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "old", &closed, "killed by driver").ok());
  EXPECT_FALSE(closed.already_closed());
  ASSERT_TRUE(fleet_->Close(node, "old", &closed).ok());
  EXPECT_TRUE(closed.already_closed());
  EXPECT_EQ(fleet_->Close(node, "never-seen", &closed).error_code(), grpc::StatusCode::NOT_FOUND);

  pqxx::connection connection(db_->url());
  pqxx::nontransaction tx(connection);
  pqxx::row row = tx.exec1(
      "SELECT state, close_reason, rx_bytes, tx_bytes FROM sessions WHERE session_key = 'old'");
  EXPECT_EQ(row[0].as<std::string>(), "closed");
  EXPECT_EQ(row[1].as<std::string>(), "evicted");
  EXPECT_EQ(row[2].as<int64_t>(), 1000);
  EXPECT_EQ(row[3].as<int64_t>(), 2000);
  EXPECT_EQ(tx.exec1("SELECT result FROM commands")[0].as<std::string>(), "session closed");

  // The key may be used again once closed.
  v1::AdmitResponse again = fleet_->AdmitAssertedOk(node, "kim", "old");
  EXPECT_TRUE(again.has_admitted());
  EXPECT_FALSE(again.admitted().already_live());
}

TEST_F(AdmissionTest, AKeyReusedByTheNodeReplacesTheOldSession) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("lena", 0);
  fleet_->CreateUser("mike", 0);
  fleet_->AdmitAssertedOk(node, "lena", "ovpn:ams-1:7");
  v1::AdmitResponse mike = fleet_->AdmitAssertedOk(node, "mike", "ovpn:ams-1:7");
  ASSERT_TRUE(mike.has_admitted());
  EXPECT_EQ(Count("SELECT count(*) FROM sessions WHERE state = 'closed' AND "
                  "close_reason = 'replaced'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM sessions WHERE state = 'active'"), 1);
}

TEST_F(AdmissionTest, DeleteUserWaitsForLiveSessions) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::User user = fleet_->CreateUser("nora", 0);
  fleet_->AdmitAssertedOk(node, "nora", "k");
  v1::DeleteUserRequest del;
  del.set_id(user.id());
  v1::DeleteUserResponse response;
  grpc::Status refused = fleet_->admin().DeleteUser(fleet_->AdminContext().get(), del, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("1 live sessions"));
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "k", &closed).ok());
  EXPECT_TRUE(fleet_->admin().DeleteUser(fleet_->AdminContext().get(), del, &response).ok());
}

TEST_F(AdmissionTest, ListsSessionsWithFiltersAndPages) {
  TestNode ams = fleet_->CreateNode("ams-1");
  TestNode fra = fleet_->CreateNode("fra-2");
  v1::User olga = fleet_->CreateUser("olga", 0);
  fleet_->CreateUser("paul", 0);
  for (int i = 0; i < 5; ++i) fleet_->AdmitAssertedOk(ams, "olga", absl::StrCat("ams-", i));
  for (int i = 0; i < 3; ++i) fleet_->AdmitAssertedOk(fra, "paul", absl::StrCat("fra-", i));
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(ams, "ams-0", &closed).ok());

  std::vector<std::string> keys;
  v1::ListSessionsRequest request;
  request.set_user_id(olga.id());
  request.set_page_size(2);
  for (int page = 0; page < 5; ++page) {
    v1::ListSessionsResponse response;
    ASSERT_TRUE(
        fleet_->admin().ListSessions(fleet_->AdminContext().get(), request, &response).ok());
    for (const auto& session : response.sessions()) {
      EXPECT_EQ(session.username(), "olga");
      EXPECT_EQ(session.node_name(), "ams-1");
      keys.push_back(session.session_key());
    }
    if (response.next_page_token().empty()) break;
    request.set_page_token(response.next_page_token());
  }
  EXPECT_THAT(keys, ::testing::ElementsAre("ams-4", "ams-3", "ams-2", "ams-1", "ams-0"));

  v1::ListSessionsRequest active;
  active.set_state(v1::SESSION_STATE_ACTIVE);
  active.set_node_id(ams.node.id());
  v1::ListSessionsResponse listed;
  ASSERT_TRUE(fleet_->admin().ListSessions(fleet_->AdminContext().get(), active, &listed).ok());
  EXPECT_EQ(listed.sessions_size(), 4);

  v1::ListSessionsRequest foreign = active;
  foreign.set_page_token(request.page_token());
  EXPECT_EQ(
      fleet_->admin().ListSessions(fleet_->AdminContext().get(), foreign, &listed).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);

  v1::Stats stats;
  ASSERT_TRUE(
      fleet_->admin().GetStats(fleet_->AdminContext().get(), v1::GetStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.live_sessions(), 7);
  EXPECT_EQ(stats.users_with_live_sessions(), 2);
  EXPECT_EQ(stats.live_sessions_by_node().at("ams-1"), 4);
  EXPECT_EQ(stats.live_sessions_by_node().at("fra-2"), 3);
  EXPECT_EQ(stats.live_sessions_by_protocol().at("OPENVPN"), 7);
}

TEST_F(AdmissionTest, ManagesNodes) {
  TestNode node = fleet_->CreateNode("ams-1");
  EXPECT_THAT(node.credential, ::testing::StartsWith("wnc_"));
  EXPECT_EQ(node.credential.size(), 68u);
  v1::CreateNodeRequest duplicate;
  duplicate.set_name("ams-1");
  v1::CreateNodeResponse response;
  EXPECT_EQ(
      fleet_->admin().CreateNode(fleet_->AdminContext().get(), duplicate, &response).error_code(),
      grpc::StatusCode::ALREADY_EXISTS);
  duplicate.set_name("Bad_Name");
  EXPECT_EQ(
      fleet_->admin().CreateNode(fleet_->AdminContext().get(), duplicate, &response).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM nodes WHERE credential_hash = sha256('",
                               node.credential, "'::bytea)")),
            1);

  fleet_->CreateUser("quinn", 0);
  fleet_->AdmitAssertedOk(node, "quinn", "k");
  v1::GetNodeRequest get;
  get.set_name("ams-1");
  v1::Node fetched;
  ASSERT_TRUE(fleet_->admin().GetNode(fleet_->AdminContext().get(), get, &fetched).ok());
  EXPECT_EQ(fetched.live_sessions(), 1);

  v1::RemoveNodeRequest remove;
  remove.set_id(node.node.id());
  v1::Node removed;
  grpc::Status refused = fleet_->admin().RemoveNode(fleet_->AdminContext().get(), remove, &removed);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  remove.set_close_sessions(true);
  ASSERT_TRUE(fleet_->admin().RemoveNode(fleet_->AdminContext().get(), remove, &removed).ok());
  EXPECT_EQ(removed.live_sessions(), 0);
  v1::ListNodesResponse nodes;
  ASSERT_TRUE(
      fleet_->admin().ListNodes(fleet_->AdminContext().get(), v1::ListNodesRequest(), &nodes).ok());
  EXPECT_EQ(nodes.nodes_size(), 0);
  // The name is free again.
  EXPECT_FALSE(fleet_->CreateNode("ams-1").credential.empty());
}

}  // namespace
}  // namespace warden::testing
