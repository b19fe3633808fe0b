// The command path against a real PostgreSQL: answers stored as typed
// outcomes, kinds this replica does not know left undelivered, heartbeats
// that do not wait for a slow database, and waiters woken by answers
// recorded on another replica.

#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {


class CommandPathTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.heartbeat_interval = absl::Seconds(1);
  }
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
  }

  std::string QueryText(const std::string& sql) const {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    return tx.exec1(sql)[0].as<std::string>();
  }

  grpc::Status Drain(const TestNode& node, bool draining) {
    v1::Node answer;
    if (draining) {
      v1::DrainNodeRequest request;
      request.set_node_id(node.node.id());
      return fleet_->admin().DrainNode(fleet_->AdminContext().get(), request, &answer);
    }
    v1::UndrainNodeRequest request;
    request.set_node_id(node.node.id());
    return fleet_->admin().UndrainNode(fleet_->AdminContext().get(), request, &answer);
  }

  std::unique_ptr<FleetClient> fleet_;
};

TEST_F(CommandPathTest, StoresTheAgentsAnswerAsATypedOutcome) {
  TestNode node = fleet_->CreateNode("ams-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());

  ASSERT_TRUE(Drain(node, true).ok());
  std::optional<v1::Command> drain = agent.WaitForCommand(
      [](const v1::Command& command) { return command.kind() == v1::DRAIN && command.draining(); });
  ASSERT_TRUE(drain.has_value());
  agent.Fail(drain->id(), "cannot refuse new clients");
  const std::string id = absl::StrCat(drain->id());
  ASSERT_TRUE(WaitFor([&] {
    return QueryInt("SELECT count(*) FROM commands WHERE acked_at IS NOT NULL AND id = " + id) == 1;
  }));
  EXPECT_EQ(QueryText("SELECT outcome FROM commands WHERE id = " + id), "failed");
  EXPECT_EQ(QueryText("SELECT detail FROM commands WHERE id = " + id), "cannot refuse new clients");
  EXPECT_EQ(QueryText("SELECT result FROM commands WHERE id = " + id),
            "error: cannot refuse new clients");

  // The agent's verdict decides, whatever its words.
  ASSERT_TRUE(Drain(node, false).ok());
  std::optional<v1::Command> undrain = agent.WaitForCommand([](const v1::Command& command) {
    return command.kind() == v1::DRAIN && !command.draining();
  });
  ASSERT_TRUE(undrain.has_value());
  agent.Answer(undrain->id(), /*ok=*/true, "error counters reset");
  const std::string undrain_id = absl::StrCat(undrain->id());
  ASSERT_TRUE(WaitFor([&] {
    return QueryInt("SELECT count(*) FROM commands WHERE acked_at IS NOT NULL AND id = " +
                    undrain_id) == 1;
  }));
  EXPECT_EQ(QueryText("SELECT outcome FROM commands WHERE id = " + undrain_id), "ok");
  EXPECT_EQ(QueryText("SELECT result FROM commands WHERE id = " + undrain_id),
            "ok: error counters reset");
}

TEST_F(CommandPathTest, AKillSettledWithoutAnAnswerSaysSo) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("ada", 0);
  v1::AdmitResponse admitted = fleet_->AdmitAssertedOk(node, "ada", "ovpn:a:1");
  v1::KillSessionRequest kill;
  kill.set_session_id(admitted.admitted().session_id());
  v1::KillSessionResponse killed;
  ASSERT_TRUE(fleet_->admin().KillSession(fleet_->AdminContext().get(), kill, &killed).ok());
  // The node reports the tunnel gone before the kill ever reached it.
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "ovpn:a:1", &closed).ok());
  const std::string id = absl::StrCat(killed.command_id());
  EXPECT_EQ(QueryText("SELECT outcome FROM commands WHERE id = " + id), "settled");
  EXPECT_EQ(QueryText("SELECT result FROM commands WHERE id = " + id), "session closed");
}

TEST_F(CommandPathTest, NeverDeliversAKindItDoesNotKnow) {
  TestNode node = fleet_->CreateNode("ams-1");
  // A row as a newer replica might write it.
  ExecSql("ALTER TABLE commands DROP CONSTRAINT commands_kind_known");
  ExecSql(absl::StrCat("INSERT INTO commands (node_id, kind, payload) VALUES ('", node.node.id(),
                       "', 'reboot_node', '{}')"));
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  ASSERT_TRUE(Drain(node, true).ok());
  std::optional<v1::Command> drain =
      agent.WaitForCommand([](const v1::Command& command) { return command.kind() == v1::DRAIN; });
  ASSERT_TRUE(drain.has_value()) << "the node's other commands still go out";
  // The stream is in order: whatever was made of the older row came first.
  EXPECT_EQ(agent.commands().size(), 1u) << "nothing else was sent, least of all a kill";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM commands WHERE kind = 'reboot_node' "
                     "AND delivered_at IS NULL AND acked_at IS NULL"),
            1)
      << "left in the outbox for a replica that knows it";
}

TEST_F(CommandPathTest, HeartbeatsGoOnWhileTheDatabaseIsSlow) {
  TestNode node = fleet_->CreateNode("ams-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  std::atomic<bool> done{false};
  std::thread beating([&] {  // the agent's side of the heartbeats
    v1::AgentMessage heartbeat;
    heartbeat.mutable_heartbeat();
    while (!done.load()) {
      agent.Send(heartbeat);
      absl::SleepFor(absl::Milliseconds(200));
    }
  });
  // Recording heartbeats (nodes.last_seen_at) now waits behind this lock.
  pqxx::connection locker(db_->url());
  pqxx::work held(locker);
  held.exec(absl::StrCat("SELECT 1 FROM nodes WHERE id = '", node.node.id(), "' FOR UPDATE"));
  ASSERT_TRUE(WaitFor([&] { return agent.heartbeats() >= 1; }, absl::Seconds(3)));
  const int before = agent.heartbeats();
  EXPECT_TRUE(WaitFor([&] { return agent.heartbeats() >= before + 3; }, absl::Seconds(6)))
      << "heartbeats stalled behind the database: " << agent.heartbeats() - before;
  held.abort();
  done.store(true);
  beating.join();
}

class CommandPathReplicasTest : public CommandPathTest {
 protected:
  void SetUp() override {
    CommandPathTest::SetUp();
    control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
    config.replica_id = "replica-b";
    auto started = control::ControlPlane::Start(config);
    ASSERT_TRUE(started.ok()) << started.status();
    second_ = *std::move(started);
  }
  void TearDown() override {
    second_.reset();
    CommandPathTest::TearDown();
  }

  std::unique_ptr<control::ControlPlane> second_;
};

TEST_F(CommandPathReplicasTest, AWaiterHearsAnAnswerRecordedOnAnotherReplica) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("bob", 0);
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});  // attached to the first
  ASSERT_TRUE(agent.welcomed());
  v1::AdmitResponse admitted = fleet_->AdmitAssertedOk(node, "bob", "ovpn:b:1");

  FleetClient other(grpc::CreateChannel(absl::StrCat("127.0.0.1:", second_->port()),
                                        grpc::InsecureChannelCredentials()),
                    kTestAdminKey);
  std::thread answer([&] {
    std::optional<v1::Command> kill = agent.WaitForCommand(
        [](const v1::Command& command) { return command.kind() == v1::KILL_SESSION; });
    ASSERT_TRUE(kill.has_value());
    agent.Ack(kill->id());
  });
  v1::KillSessionRequest request;
  request.set_session_id(admitted.admitted().session_id());
  request.set_wait(true);
  v1::KillSessionResponse killed;
  grpc::Status status = other.admin().KillSession(other.AdminContext().get(), request, &killed);
  answer.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(killed.acknowledged());
  EXPECT_EQ(killed.result(), "ok");
}

}  // namespace
}  // namespace warden::testing
