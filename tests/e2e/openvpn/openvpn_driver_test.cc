// The OpenVPN driver end to end: a real OpenVPN server and clients in
// network namespaces, a real warden-agent on its management socket, a real
// warden-control on a fresh database.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <iostream>
#include <memory>
#include <pqxx/pqxx>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/e2e/openvpn/openvpn_rig.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/wait.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class OpenVpnDriverTest : public FleetProcessTest {
 protected:
  void SetUp() override {
    FleetProcessTest::SetUp();
    if (std::string why = OpenVpnRig::UnusableReason(); !why.empty()) GTEST_SKIP() << why;
    // As the README asks of operators: OpenVPN waits for the agent, after
    // every restart, before it takes logins.
    OpenVpnRigOptions options;
    options.management_hold = true;
    rig_ = std::make_unique<OpenVpnRig>(options);
    ASSERT_TRUE(rig_->Setup().ok());
    ASSERT_TRUE(rig_->StartServer().ok()) << rig_->ServerLog();
    control_ = &StartControl("a");
    agent_ = &StartAgent("ovpn-1", *control_,
                         {"--driver", absl::StrCat("openvpn:mgmt=unix:", rig_->management_socket(),
                                                   ";name=e2e;bytecount=1")});
    ASSERT_TRUE(agent_->process->WaitForLog("carries 0 clients", absl::Seconds(10)))
        << agent_->process->Log();
  }
  void TearDown() override {
    rig_.reset();  // prints the OpenVPN logs when the test failed
    FleetProcessTest::TearDown();
  }

  void CreateUser(const std::string& username, int max_connections, v1::LimitPolicy policy) {
    v1::CreateUserRequest request;
    request.mutable_user()->set_username(username);
    request.mutable_user()->set_password(Password(username));
    request.mutable_user()->set_max_connections(max_connections);
    request.mutable_user()->set_limit_policy(policy);
    v1::User user;
    grpc::Status status = Admin(*control_)->CreateUser(AdminContext().get(), request, &user);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  static std::string Password(const std::string& username) { return username + "-pw-7"; }

  OpenVpnRig::Client& Connect(const std::string& name, const std::string& username) {
    return rig_->StartClient(name, username, Password(username));
  }
  int64_t LiveFor(const std::string& username) const {
    return Query(
        absl::StrCat("SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                     "WHERE u.username = '",
                     username, "' AND s.state = 'active'"));
  }
  std::string LiveKeyOf(const std::string& username) const {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    pqxx::result rows = tx.exec_params(
        "SELECT s.session_key FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = $1 AND s.state = 'active'",
        username);
    return rows.size() == 1 ? rows[0][0].as<std::string>() : "";
  }
  std::string LiveIdOf(const std::string& username) const {
    const std::string key = LiveKeyOf(username);
    return key.empty() ? "" : LiveSessionId(key);
  }

  std::unique_ptr<OpenVpnRig> rig_;
  Control* control_ = nullptr;
  Agent* agent_ = nullptr;
};

TEST_F(OpenVpnDriverTest, EvictOldestHaltsTheOlderClientAndTheNewOnePasses) {
  CreateUser("alice", 1, v1::EVICT_OLDEST);
  OpenVpnRig::Client& a = Connect("a", "alice");
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(20)));
  ASSERT_TRUE(rig_->Ping(a, rig_->server_tunnel_ip(), absl::Seconds(10)));
  ASSERT_TRUE(WaitFor([&] { return LiveFor("alice") == 1; }));
  const std::string first_key = LiveKeyOf("alice");
  EXPECT_TRUE(absl::StartsWith(first_key, "ovpn:e2e:")) << first_key;

  OpenVpnRig::Client& b = Connect("b", "alice");
  ASSERT_TRUE(rig_->WaitClientConnected(b, absl::Seconds(20)));
  // HALT: A is told to exit instead of reconnecting and evicting B in turn.
  EXPECT_TRUE(WaitFor([&] { return rig_->ClientExited(a); }, absl::Seconds(20)))
      << rig_->ClientLog(a);
  EXPECT_THAT(rig_->ClientLog(a), HasSubstr("Halt command was pushed by server"));
  // ... and why, in its own log.
  EXPECT_THAT(rig_->ClientLog(a), HasSubstr("evicted"));
  EXPECT_TRUE(rig_->Ping(b, rig_->server_tunnel_ip(), absl::Seconds(10)));
  EXPECT_EQ(LiveFor("alice"), 1);
  EXPECT_NE(LiveKeyOf("alice"), first_key);
  EXPECT_TRUE(WaitFor(
      [&] {
        return Query(absl::StrCat("SELECT count(*) FROM sessions WHERE session_key = '", first_key,
                                  "' AND state = 'closed'")) == 1;
      },
      absl::Seconds(20)));
}

TEST_F(OpenVpnDriverTest, RejectTellsTheRefusedClientWhy) {
  CreateUser("bob", 1, v1::REJECT);
  OpenVpnRig::Client& a = Connect("a", "bob");
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(20)));

  OpenVpnRig::Client& b = Connect("b", "bob");
  EXPECT_TRUE(WaitFor([&] { return rig_->ClientExited(b); }, absl::Seconds(20)))
      << rig_->ClientLog(b);
  EXPECT_THAT(rig_->ClientLog(b), HasSubstr("AUTH_FAILED,device limit 1 reached"));
  EXPECT_TRUE(rig_->Ping(a, rig_->server_tunnel_ip(), absl::Seconds(10)));
  EXPECT_EQ(LiveFor("bob"), 1);
}

// The same rig, for data quotas: OpenVPN cannot be throttled per user, so a
// user over quota is refused at login with the reason.
class OpenVpnQuotaTest : public OpenVpnDriverTest {
 protected:
  void CreateUserWithQuota(const std::string& username, int64_t quota_bytes,
                           v1::QuotaAction action) {
    v1::CreateUserRequest request;
    request.mutable_user()->set_username(username);
    request.mutable_user()->set_password(Password(username));
    request.mutable_user()->set_data_quota_bytes(quota_bytes);
    request.mutable_user()->set_on_quota_exceeded(action);
    request.mutable_user()->set_throttle_bytes_per_second(4096);
    v1::User user;
    grpc::Status status = Admin(*control_)->CreateUser(AdminContext().get(), request, &user);
    ASSERT_TRUE(status.ok()) << status.error_message();
    // What the node's usage reports would have counted today.
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    tx.exec_params(
        "INSERT INTO usage_daily (user_id, day, node_id, protocol, rx_bytes, tx_bytes) "
        "VALUES ($1::uuid, (now() AT TIME ZONE 'UTC')::date, gen_random_uuid(), 'openvpn', $2, 0)",
        user.id(), quota_bytes);
  }
};

TEST_F(OpenVpnQuotaTest, AUserOverQuotaGetsAuthFailedWithTheReason) {
  // Throttling is for QUIC tunnels: over quota, OpenVPN is refused as under DENY.
  CreateUserWithQuota("quinn", 1'000'000, v1::QUOTA_THROTTLE);
  OpenVpnRig::Client& a = Connect("a", "quinn");
  EXPECT_TRUE(WaitFor([&] { return rig_->ClientExited(a); }, absl::Seconds(20)))
      << rig_->ClientLog(a);
  EXPECT_THAT(rig_->ClientLog(a),
              HasSubstr("AUTH_FAILED,your data quota is used up; it resets on "));
  EXPECT_EQ(LiveFor("quinn"), 0);
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events WHERE action = 'session.deny' "
                  "AND details->>'reason' = 'quota_exceeded'"),
            1);
}

TEST_F(OpenVpnDriverTest, WrongPasswordIsRefused) {
  CreateUser("erin", 0, v1::EVICT_OLDEST);
  OpenVpnRig::Client& a = rig_->StartClient("a", "erin", "not-her-password");
  EXPECT_TRUE(WaitFor([&] { return rig_->ClientExited(a); }, absl::Seconds(20)))
      << rig_->ClientLog(a);
  EXPECT_THAT(rig_->ClientLog(a), HasSubstr("AUTH_FAILED"));
  EXPECT_EQ(LiveFor("erin"), 0);
  // The password never reaches a log.
  EXPECT_THAT(agent_->process->Log(), ::testing::Not(HasSubstr("not-her-password")));
}

TEST_F(OpenVpnDriverTest, AConnectTicketStandsInForThePasswordOnce) {
  CreateUser("frank", 0, v1::EVICT_OLDEST);
  auto sessions = v1::SessionService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", control_->port), grpc::InsecureChannelCredentials()));
  v1::LoginRequest login;
  login.set_username("frank");
  login.set_password(Password("frank"));
  v1::LoginResponse logged_in;
  grpc::Status status = sessions->Login(AdminContext().get(), login, &logged_in);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::IssueConnectTicketRequest issue;
  issue.set_access_token(logged_in.access_token());
  v1::IssueConnectTicketResponse ticket;
  status = sessions->IssueConnectTicket(AdminContext().get(), issue, &ticket);
  ASSERT_TRUE(status.ok()) << status.error_message();

  OpenVpnRig::Client& a = rig_->StartClient("a", "frank", ticket.ticket());
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(20))) << rig_->ClientLog(a);
  ASSERT_TRUE(WaitFor([&] { return LiveFor("frank") == 1; }));
  EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM sessions WHERE family_id = '",
                               logged_in.family_id(), "' AND state = 'active'")),
            1);

  // Single-use: a second client with the same ticket is refused.
  OpenVpnRig::Client& b = rig_->StartClient("b", "frank", ticket.ticket());
  EXPECT_TRUE(WaitFor([&] { return rig_->ClientExited(b); }, absl::Seconds(20)))
      << rig_->ClientLog(b);
  EXPECT_THAT(rig_->ClientLog(b), HasSubstr("AUTH_FAILED"));
  EXPECT_THAT(agent_->process->Log(), ::testing::Not(HasSubstr(ticket.ticket())));
}

TEST_F(OpenVpnDriverTest, ControlPlaneAwayRefusesNewLoginsAndKeepsTunnels) {
  CreateUser("hank", 0, v1::EVICT_OLDEST);
  OpenVpnRig::Client& a = Connect("a", "hank");
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(20)));
  control_->process->Signal(SIGSTOP);  // holds its connections, answers nothing
  OpenVpnRig::Client& b = Connect("b", "hank");
  EXPECT_TRUE(WaitFor([&] { return rig_->ClientExited(b); }, absl::Seconds(20)))
      << rig_->ClientLog(b);
  EXPECT_THAT(rig_->ClientLog(b), HasSubstr("AUTH_FAILED,the service cannot check logins"));
  EXPECT_TRUE(rig_->Ping(a, rig_->server_tunnel_ip(), absl::Seconds(10)));
  control_->process->Signal(SIGCONT);
}

TEST_F(OpenVpnDriverTest, KillSessionFromTheAdminApiDisconnectsTheClient) {
  CreateUser("carol", 0, v1::EVICT_OLDEST);
  OpenVpnRig::Client& a = Connect("a", "carol");
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(20)));
  ASSERT_TRUE(WaitFor([&] { return !LiveIdOf("carol").empty(); }));

  v1::KillSessionRequest kill;
  kill.set_session_id(LiveIdOf("carol"));
  kill.set_reason("abuse report 7");
  kill.set_wait(true);
  v1::KillSessionResponse response;
  const absl::Time start = absl::Now();
  grpc::Status status = Admin(*control_)->KillSession(AdminContext().get(), kill, &response);
  const absl::Duration acknowledged = absl::Now() - start;
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.acknowledged());
  EXPECT_EQ(response.result(), "ok");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Query(
                   "SELECT count(*) FROM sessions WHERE state = 'closed' AND close_reason = "
                   "'abuse report 7' AND closed_at IS NOT NULL") == 1;
      },
      absl::Seconds(20)));
  const absl::Duration disconnected = absl::Now() - start;
  EXPECT_TRUE(WaitFor([&] { return rig_->ClientExited(a); }, absl::Seconds(20)));
  // The user's OpenVPN says why: the end reason's code and the operator's words.
  EXPECT_THAT(rig_->ClientLog(a), HasSubstr("killed_by_admin: abuse report 7"));
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE end_reason = 'killed_by_admin'"), 1);
  std::cout << "[ MEASURED ] KillSession acknowledged after " << absl::FormatDuration(acknowledged)
            << "; OpenVPN reported the client gone after " << absl::FormatDuration(disconnected)
            << "\n";
  EXPECT_THAT(agent_->process->Log(), HasSubstr("gone"));
}

TEST_F(OpenVpnDriverTest, OpenVpnCrashAndRestartIsReconciled) {
  CreateUser("dave", 0, v1::EVICT_OLDEST);
  OpenVpnRig::Client& a = Connect("a", "dave");
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(20)));
  ASSERT_TRUE(WaitFor([&] { return LiveFor("dave") == 1; }));
  const std::string before = LiveKeyOf("dave");
  const std::string server_pid = before.substr(before.rfind('@') + 1);

  // A crash: no DISCONNECT for anyone. The new process's pid tells the
  // agent that the old one's clients are gone.
  ASSERT_EQ(RunToCompletion({"kill", "-KILL", server_pid}).exit_code, 0);
  rig_->StopServer();
  ASSERT_TRUE(rig_->StartServer().ok()) << rig_->ServerLog();
  EXPECT_TRUE(agent_->process->WaitForLog("OpenVPN restarted", absl::Seconds(20)))
      << agent_->process->Log();
  EXPECT_TRUE(WaitFor(
      [&] {
        return Query(absl::StrCat(
                   "SELECT count(*) FROM sessions WHERE session_key = '", before,
                   "' AND state = 'closed' AND close_reason = 'server restarted'")) == 1;
      },
      absl::Seconds(20)));
  // The client comes back on its own (ping-restart); the database follows.
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(40), 2)) << rig_->ClientLog(a);
  EXPECT_TRUE(WaitFor([&] { return LiveFor("dave") == 1 && LiveKeyOf("dave") != before; },
                      absl::Seconds(20)));
  EXPECT_TRUE(rig_->Ping(a, rig_->server_tunnel_ip(), absl::Seconds(10)));
}

TEST_F(OpenVpnDriverTest, GracefulRestartClosesAndReadmits) {
  CreateUser("gina", 0, v1::EVICT_OLDEST);
  OpenVpnRig::Client& a = Connect("a", "gina");
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(20)));
  ASSERT_TRUE(WaitFor([&] { return LiveFor("gina") == 1; }));
  const std::string before = LiveKeyOf("gina");

  ASSERT_TRUE(rig_->RestartServer().ok()) << rig_->ServerLog();
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(30), 2)) << rig_->ClientLog(a);
  EXPECT_TRUE(WaitFor([&] { return LiveFor("gina") == 1 && LiveKeyOf("gina") != before; },
                      absl::Seconds(20)));
  EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM sessions WHERE session_key = '", before,
                               "' AND state = 'closed'")),
            1);
}

TEST_F(OpenVpnDriverTest, AgentRestartKeepsTheClientsItFinds) {
  CreateUser("frank", 0, v1::EVICT_OLDEST);
  OpenVpnRig::Client& a = Connect("a", "frank");
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(20)));
  ASSERT_TRUE(WaitFor([&] { return LiveFor("frank") == 1; }));
  const std::string session_id = LiveIdOf("frank");

  agent_->process->Signal(SIGKILL);
  agent_->process->Wait(absl::Seconds(10));
  RestartAgent(*agent_);
  ASSERT_TRUE(WaitAttached(*agent_)) << agent_->process->Log();
  EXPECT_THAT(agent_->process->Log(), HasSubstr("carries 1 clients"));
  // Reconcile found the connection in the new agent's inventory: same session.
  EXPECT_EQ(LiveIdOf("frank"), session_id);
  EXPECT_TRUE(rig_->Ping(a, rig_->server_tunnel_ip(), absl::Seconds(10)));
}

// One device per server: a second OpenVPN client on the same server halts the
// older one there, while the user's oldest session, on another node, stays.
TEST_F(OpenVpnDriverTest, APerNodeCapHaltsTheOlderClientOnThatServerOnly) {
  CreateUser("erin", 3, v1::EVICT_OLDEST);
  v1::GetUserRequest get;
  get.set_username("erin");
  v1::User user;
  ASSERT_TRUE(Admin(*control_)->GetUser(AdminContext().get(), get, &user).ok());
  v1::UpdateUserRequest update;
  update.mutable_user()->set_id(user.id());
  update.mutable_user()->set_max_connections_per_node(1);
  update.mutable_update_mask()->add_paths("max_connections_per_node");
  grpc::Status status = Admin(*control_)->UpdateUser(AdminContext().get(), update, &user);
  ASSERT_TRUE(status.ok()) << status.error_message();

  // The oldest session of all, on another node.
  Agent& elsewhere = StartAgent("mem-1", *control_);
  ASSERT_THAT(elsewhere.driver().Open("m1", "erin"), ::testing::StartsWith("admitted "));
  const std::string elsewhere_session = LiveSessionId("m1");
  ASSERT_FALSE(elsewhere_session.empty());

  OpenVpnRig::Client& a = Connect("a", "erin");
  ASSERT_TRUE(rig_->WaitClientConnected(a, absl::Seconds(20)));
  ASSERT_TRUE(WaitFor([&] { return LiveFor("erin") == 2; }));
  OpenVpnRig::Client& b = Connect("b", "erin");
  ASSERT_TRUE(rig_->WaitClientConnected(b, absl::Seconds(20)));
  EXPECT_TRUE(WaitFor([&] { return rig_->ClientExited(a); }, absl::Seconds(20)))
      << rig_->ClientLog(a);
  EXPECT_THAT(rig_->ClientLog(a), HasSubstr("Halt command was pushed by server"));
  EXPECT_TRUE(rig_->Ping(b, rig_->server_tunnel_ip(), absl::Seconds(10)));
  EXPECT_EQ(LiveSessionId("m1"), elsewhere_session);
  EXPECT_TRUE(elsewhere.driver().Killed().empty());
  EXPECT_EQ(LiveFor("erin"), 2);
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events e JOIN nodes n "
                  "ON n.id = (e.details->>'node_id')::uuid "
                  "WHERE e.action = 'session.evict' AND n.name = 'ovpn-1'"),
            1);
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events WHERE action = 'session.evict'"), 1);
}

}  // namespace
}  // namespace warden::testing
