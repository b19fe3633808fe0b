// The agent link with real processes: warden-control and warden-agent (memory
// driver) on a real PostgreSQL. Kills with acknowledgement, drains, crashes of
// either side, fencing, and two control-plane replicas.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

class AgentLinkTest : public FleetProcessTest {
 protected:
  static bool Contains(const std::vector<std::string>& items, const std::string& prefix) {
    return std::any_of(items.begin(), items.end(),
                       [&](const std::string& item) { return absl::StartsWith(item, prefix); });
  }
  int64_t LiveOn(const std::string& node) const {
    return Query(
        absl::StrCat("SELECT count(*) FROM sessions s JOIN nodes n ON n.id = s.node_id "
                     "WHERE n.name = '",
                     node, "' AND s.state <> 'closed'"));
  }
};

TEST_F(AgentLinkTest, KillSessionWaitsForTheAgentsAcknowledgement) {
  Control& control = StartControl("a");
  Agent& agent = StartAgent("node-1", control);
  CreateUser(control, "alice", 0);
  ASSERT_THAT(agent.driver().Open("k1", "alice"), StartsWith("admitted "));
  const std::string session_id = LiveSessionId("k1");
  ASSERT_FALSE(session_id.empty());

  v1::KillSessionRequest kill;
  kill.set_session_id(session_id);
  kill.set_reason("abuse report 42");
  kill.set_wait(true);
  v1::KillSessionResponse response;
  const absl::Time start = absl::Now();
  grpc::Status status = Admin(control)->KillSession(AdminContext().get(), kill, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.acknowledged());
  EXPECT_EQ(response.result(), "ok");
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_THAT(agent.driver().Killed(), UnorderedElementsAre("k1 killed_by_admin: abuse report 42"));
  EXPECT_TRUE(agent.driver().Sessions().empty());
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM sessions WHERE state = 'closed'") == 1; }));

  // Killing it again: it is closed.
  EXPECT_EQ(Admin(control)->KillSession(AdminContext().get(), kill, &response).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

// What ./scripts/memctl sends: a password with a space, the device's label
// and its protocol reach the control plane as given.
TEST_F(AgentLinkTest, MemoryDriverPassesPasswordsLabelsAndProtocolsThrough) {
  Control& control = StartControl("a");
  Agent& agent = StartAgent("node-1", control);
  v1::CreateUserRequest create;
  create.mutable_user()->set_username("dana");
  create.mutable_user()->set_password("correct horse");
  v1::User user;
  ASSERT_TRUE(Admin(control)->CreateUser(AdminContext().get(), create, &user).ok());

  EXPECT_THAT(agent.driver().Open("laptop", "dana", "correct-horse"),
              StartsWith("denied BAD_CREDENTIALS"));
  ASSERT_THAT(agent.driver().Request("open laptop dana correct%20horse "
                                     "label=dana%27s%20laptop protocol=wireguard"),
              StartsWith("admitted "));
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE session_key = 'laptop' AND "
                  "device_label = 'dana''s laptop' AND protocol = 'wireguard' AND "
                  "state = 'active'"),
            1);
}

TEST_F(AgentLinkTest, KillWithWaitReportsAPendingCommandWhenTheAgentIsAway) {
  Control& control = StartControl("a");
  Agent& agent = StartAgent("node-1", control);
  CreateUser(control, "bob", 0);
  ASSERT_THAT(agent.driver().Open("k1", "bob"), StartsWith("admitted "));
  agent.process->Signal(SIGSTOP);  // frozen: holds its stream, answers nothing
  v1::KillSessionRequest kill;
  kill.set_session_id(LiveSessionId("k1"));
  kill.set_wait(true);
  v1::KillSessionResponse response;
  grpc::Status status =
      Admin(control)->KillSession(AdminContext(absl::Seconds(2)).get(), kill, &response);
  agent.process->Signal(SIGCONT);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("still pending"));
  // Delivered once the agent runs again.
  EXPECT_TRUE(WaitFor([&] { return !agent.driver().Killed().empty(); }));
}

TEST_F(AgentLinkTest, DisconnectUserReachesEveryAgent) {
  Control& control = StartControl("a");
  Agent& one = StartAgent("node-1", control);
  Agent& two = StartAgent("node-2", control);
  v1::User carol = CreateUser(control, "carol", 0);
  CreateUser(control, "dave", 0);
  ASSERT_THAT(one.driver().Open("c1", "carol"), StartsWith("admitted "));
  ASSERT_THAT(two.driver().Open("c2", "carol"), StartsWith("admitted "));
  ASSERT_THAT(two.driver().Open("d1", "dave"), StartsWith("admitted "));

  v1::DisconnectUserRequest request;
  request.set_user_id(carol.id());
  request.set_reason("account compromised");
  v1::DisconnectUserResponse response;
  ASSERT_TRUE(Admin(control)->DisconnectUser(AdminContext().get(), request, &response).ok());
  EXPECT_EQ(response.sessions_killed(), 2);
  EXPECT_TRUE(WaitFor(
      [&] { return one.driver().Sessions().empty() && two.driver().Sessions().size() == 1; }));
  EXPECT_THAT(two.driver().Sessions(), UnorderedElementsAre("d1"));
  EXPECT_THAT(one.driver().Killed(),
              UnorderedElementsAre("c1 killed_by_admin: account compromised"));
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM sessions WHERE state <> 'closed'") == 1; }));
}

TEST_F(AgentLinkTest, DrainNodeEndsSessionsAndRefusesNewOnesUntilUndrained) {
  Control& control = StartControl("a");
  Agent& agent = StartAgent("node-1", control);
  CreateUser(control, "erin", 0);
  ASSERT_THAT(agent.driver().Open("e1", "erin"), StartsWith("admitted "));
  v1::GetNodeRequest get;
  get.set_name("node-1");
  v1::Node node;
  ASSERT_TRUE(Admin(control)->GetNode(AdminContext().get(), get, &node).ok());
  EXPECT_TRUE(node.online());

  v1::DrainNodeRequest drain;
  drain.set_node_id(node.id());
  drain.set_kill_sessions(true);
  ASSERT_TRUE(Admin(control)->DrainNode(AdminContext().get(), drain, &node).ok());
  EXPECT_EQ(node.state(), v1::NODE_STATE_DRAINING);
  EXPECT_TRUE(WaitFor([&] { return agent.driver().Sessions().empty(); }));
  EXPECT_THAT(agent.driver().Open("e2", "erin"), StartsWith("denied NODE_DRAINING"));

  v1::UndrainNodeRequest undrain;
  undrain.set_node_id(node.id());
  ASSERT_TRUE(Admin(control)->UndrainNode(AdminContext().get(), undrain, &node).ok());
  EXPECT_TRUE(
      WaitFor([&] { return absl::StartsWith(agent.driver().Open("e3", "erin"), "admitted"); }));
}

TEST_F(AgentLinkTest, ControlPlaneCrashLosesNothingAndDeliversPendingCommands) {
  Control& control = StartControl("a");
  Agent& agent = StartAgent("node-1", control);
  CreateUser(control, "frank", 1, /*grace_seconds=*/3);
  CreateUser(control, "gina", 0);
  ASSERT_THAT(agent.driver().Open("f1", "frank"), StartsWith("admitted "));
  ASSERT_THAT(agent.driver().Open("g1", "gina"), StartsWith("admitted "));
  ASSERT_THAT(agent.driver().Open("g2", "gina"), StartsWith("admitted "));
  // f2 evicts f1, with its kill due in 3 s: a command not yet delivered.
  ASSERT_THAT(agent.driver().Open("f2", "frank"), StartsWith("admitted "));

  control.process->Signal(SIGKILL);
  control.process->Wait(absl::Seconds(10));
  // While the control plane is away: tunnels stay, and one ends.
  EXPECT_EQ(agent.driver().Sessions().size(), 4u);
  EXPECT_EQ(agent.driver().Close("g2", 111, 222), "ok");

  RestartControl(control);
  ASSERT_TRUE(agent.process->WaitForLog("epoch=2", absl::Seconds(40))) << agent.process->Log();
  EXPECT_TRUE(WaitFor([&] { return Contains(agent.driver().Killed(), "f1 "); }, absl::Seconds(15)));
  EXPECT_THAT(agent.driver().Sessions(), UnorderedElementsAre("f2", "g1"));
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM sessions WHERE state <> 'closed'") == 2; }));
  // The agent's reports (g2's close with its counters, f1's kill answer)
  // are applied as they arrive after the attach, not within it.
  EXPECT_TRUE(WaitFor([&] {
    return Query("SELECT rx_bytes FROM sessions WHERE session_key = 'g2' AND state = 'closed'") ==
           111;
  }));
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM commands WHERE acked_at IS NULL") == 0; }));
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE close_reason = 'lost'"), 0);
}

// With a maximum connection age, the replica closes each agent's connection
// in turn (so that streams spread again after a rollout); the agent attaches
// again at once, its sessions stay, and kills keep arriving.
TEST_F(AgentLinkTest, AConnectionPastItsMaximumAgeIsReplacedWithoutLosingAnything) {
  Control& control = StartControl(
      "a", {"--grpc-max-connection-age-seconds=2", "--grpc-max-connection-age-grace-seconds=1"});
  Agent& agent = StartAgent("node-1", control);
  CreateUser(control, "hana", 0);
  ASSERT_THAT(agent.driver().Open("h1", "hana"), StartsWith("admitted "));
  ASSERT_THAT(agent.driver().Open("h2", "hana"), StartsWith("admitted "));
  auto epoch = [&] { return Query("SELECT attach_epoch FROM nodes WHERE name = 'node-1'"); };
  const int64_t first = epoch();
  EXPECT_TRUE(WaitFor([&] { return epoch() >= first + 3; }, absl::Seconds(20)))
      << "epoch " << epoch() << "\n"
      << agent.process->Log();

  v1::KillSessionRequest kill;
  kill.set_session_id(LiveSessionId("h1"));
  kill.set_reason("rotation");
  kill.set_wait(true);
  v1::KillSessionResponse response;
  ASSERT_TRUE(Admin(control)->KillSession(AdminContext().get(), kill, &response).ok());
  EXPECT_TRUE(WaitFor([&] { return Contains(agent.driver().Killed(), "h1 "); }));
  EXPECT_THAT(agent.driver().Sessions(), UnorderedElementsAre("h2"));
  EXPECT_TRUE(WaitFor([&] { return LiveOn("node-1") == 1; }));
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE close_reason IN ('lost', 'node_lost')"), 0);
  EXPECT_TRUE(
      WaitFor([&] { return Query("SELECT count(*) FROM commands WHERE acked_at IS NULL") == 0; }));
}

TEST_F(AgentLinkTest, AgentCrashIsReconciledOnItsReturn) {
  Control& control = StartControl("a");
  Agent& agent = StartAgent("node-1", control);
  CreateUser(control, "hank", 0);
  ASSERT_THAT(agent.driver().Open("h1", "hank"), StartsWith("admitted "));
  agent.process->Signal(SIGKILL);
  agent.process->Wait(absl::Seconds(10));

  // Admitted through the node's credential, but the agent died before the
  // tunnel came up: the node will not report it.
  const std::string credential = [&] {
    std::ifstream in(agent.state_dir + "/credential");
    std::string line;
    std::getline(in, line);
    return line;
  }();
  v1::AdmitRequest ghost;
  ghost.set_protocol(v1::OPENVPN);
  ghost.set_session_key("ghost");
  ghost.mutable_asserted_user()->set_username("hank");
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + credential);
  v1::AdmitResponse admitted;
  ASSERT_TRUE(AgentApi(control)->Admit(&context, ghost, &admitted).ok());
  EXPECT_EQ(LiveOn("node-1"), 2);

  RestartAgent(agent);
  ASSERT_TRUE(WaitAttached(agent)) << agent.process->Log();
  EXPECT_TRUE(WaitFor([&] { return LiveOn("node-1") == 1; }));
  EXPECT_FALSE(LiveSessionId("h1").empty());
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE session_key = 'ghost' AND "
                  "close_reason = 'lost'"),
            1);
}

TEST_F(AgentLinkTest, ANewerAgentWithTheSameCredentialFencesTheOlder) {
  Control& control = StartControl("a");
  Agent& first = StartAgent("node-1", control);
  ASSERT_TRUE(WaitAttached(first)) << first.process->Log();  // else the clone may be first
  CreateUser(control, "ivan", 0);
  // A clone: same credential, its own driver.
  agents_.push_back(std::make_unique<Agent>());
  Agent& clone = *agents_.back();
  clone.node = "node-1";
  clone.state_dir = work_dir_ + "/state-clone";
  clone.socket = work_dir_ + "/clone.sock";
  clone.control = &control;
  std::filesystem::create_directories(clone.state_dir);
  std::filesystem::copy_file(first.state_dir + "/credential", clone.state_dir + "/credential");
  RestartAgent(clone);
  ASSERT_TRUE(WaitAttached(clone)) << clone.process->Log();
  EXPECT_TRUE(first.process->WaitForLog("another agent attached", absl::Seconds(10)))
      << first.process->Log();

  ASSERT_THAT(clone.driver().Open("i1", "ivan"), StartsWith("admitted "));
  v1::KillSessionRequest kill;
  kill.set_session_id(LiveSessionId("i1"));
  kill.set_wait(true);
  v1::KillSessionResponse response;
  ASSERT_TRUE(Admin(control)->KillSession(AdminContext().get(), kill, &response).ok());
  EXPECT_TRUE(response.acknowledged());
  EXPECT_FALSE(clone.driver().Killed().empty());
  EXPECT_TRUE(first.driver().Killed().empty());
  EXPECT_EQ(Query("SELECT attach_epoch FROM nodes WHERE name = 'node-1'"), 2);
}

TEST_F(AgentLinkTest, AnEvictionThroughOneReplicaKillsOnAnAgentOfTheOther) {
  Control& a = StartControl("a");
  Control& b = StartControl("b");
  Agent& on_b = StartAgent("node-b", b);
  CreateUser(a, "judy", 1);
  ASSERT_THAT(on_b.driver().Open("j1", "judy"), StartsWith("admitted "));
  // Another node asks replica A for judy: j1 must go, on node-b via replica B.
  v1::CreateNodeRequest create;
  create.set_name("node-a");
  create.set_trusted_authenticator(true);
  v1::CreateNodeResponse other;
  ASSERT_TRUE(Admin(a)->CreateNode(AdminContext().get(), create, &other).ok());
  v1::AdmitRequest request;
  request.set_protocol(v1::WIREGUARD);
  request.set_session_key("j2");
  request.mutable_asserted_user()->set_username("judy");
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + other.credential());
  v1::AdmitResponse admitted;
  ASSERT_TRUE(AgentApi(a)->Admit(&context, request, &admitted).ok());
  ASSERT_EQ(admitted.admitted().evicted_size(), 1);
  EXPECT_TRUE(WaitFor([&] { return Contains(on_b.driver().Killed(), "j1 "); }));
  EXPECT_TRUE(WaitFor([&] {
    return Query("SELECT count(*) FROM sessions WHERE session_key = 'j1' AND state = 'closed'") ==
           1;
  }));
}

TEST_F(AgentLinkTest, FailClosedRefusesAndFailOpenAdmitsRecentUsersWhileAway) {
  Control& control = StartControl("a");
  Agent& closed = StartAgent("node-closed", control);
  Agent& open =
      StartAgent("node-open", control, {"--fail-mode", "open", "--fail-open-window", "600"});
  CreateUser(control, "kim", 2);
  ASSERT_THAT(open.driver().Open("o1", "kim"), StartsWith("admitted "));
  ASSERT_EQ(open.driver().Close("o1"), "ok");

  control.process->Signal(SIGKILL);
  control.process->Wait(absl::Seconds(10));
  EXPECT_THAT(closed.driver().Open("c1", "kim"), StartsWith("denied CONTROL_PLANE_UNREACHABLE"));
  EXPECT_EQ(open.driver().Open("o2", "kim"), "admitted offline");
  EXPECT_THAT(open.driver().Open("o3", "someone-else"),
              StartsWith("denied CONTROL_PLANE_UNREACHABLE"));

  RestartControl(control);
  ASSERT_TRUE(open.process->WaitForLog("epoch=2", absl::Seconds(40)));
  // The reconcile applies the rules to what was admitted offline.
  EXPECT_TRUE(WaitFor([&] { return !LiveSessionId("o2").empty(); }));
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events WHERE action = 'session.admit' AND "
                  "details->>'session_key' = 'o2'"),
            1);
}

TEST_F(AgentLinkTest, BandwidthChangesReachTheNodesCarryingTheUser) {
  Control& control = StartControl("a");
  Agent& agent = StartAgent("node-1", control);
  v1::User lena = CreateUser(control, "lena", 0);
  ASSERT_THAT(agent.driver().Open("l1", "lena"), StartsWith("admitted "));
  v1::UpdateUserRequest update;
  update.mutable_user()->set_id(lena.id());
  update.mutable_user()->set_bandwidth_bytes_per_second(1250000);
  update.mutable_update_mask()->add_paths("bandwidth_bytes_per_second");
  v1::User updated;
  ASSERT_TRUE(Admin(control)->UpdateUser(AdminContext().get(), update, &updated).ok());
  EXPECT_TRUE(WaitFor([&] {
    return agent.driver().Request("limits") == "limit lena 1250000\nend";
  })) << agent.driver().Request("limits");
  EXPECT_TRUE(WaitFor([&] {
    return Query("SELECT count(*) FROM commands WHERE kind = 'set_bandwidth' AND result = 'ok'") ==
           1;
  }));
}

}  // namespace
}  // namespace warden::testing
