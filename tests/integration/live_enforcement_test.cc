// Changes that must reach live sessions at once, against a real PostgreSQL
// through gRPC: disable means disconnected (every protocol, every node), a
// new password ends the user's logins, a lowered limit evicts now, and a
// kill is never silently undone (not by a reconnect, a renegotiation, or a
// node that failed to carry it out).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/wait.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kPassword[] = "correct horse battery";

class LiveEnforcementTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
    session_ = v1::SessionService::NewStub(Channel());
  }

  grpc::Status UpdateUser(const v1::User& user, const std::string& path,
                          bool keep_sessions = false) {
    v1::UpdateUserRequest request;
    *request.mutable_user() = user;
    request.mutable_update_mask()->add_paths(path);
    request.set_keep_sessions(keep_sessions);
    v1::User updated;
    return fleet_->admin().UpdateUser(fleet_->AdminContext().get(), request, &updated);
  }

  static std::unique_ptr<grpc::ClientContext> Plain() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    return context;
  }
  v1::LoginResponse LoginOk(const std::string& username, const std::string& password) {
    v1::LoginRequest request;
    request.set_username(username);
    request.set_password(password);
    v1::LoginResponse response;
    grpc::Status status = session_->Login(Plain().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  std::string TicketOk(const std::string& access_token) {
    v1::IssueConnectTicketRequest request;
    request.set_access_token(access_token);
    v1::IssueConnectTicketResponse response;
    grpc::Status status = session_->IssueConnectTicket(Plain().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.ticket();
  }
  v1::AdmitResponse AdmitWithTicket(const TestNode& node, const std::string& ticket,
                                    const std::string& key) {
    v1::AdmitRequest request;
    request.set_protocol(v1::OPENVPN);
    request.set_session_key(key);
    request.set_connect_ticket(ticket);
    v1::AdmitResponse response;
    grpc::Status status = fleet_->Admit(node.credential, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  v1::AdmitResponse Assert(const TestNode& node, const std::string& username,
                           const std::string& key, v1::Protocol protocol) {
    v1::AdmitResponse response;
    grpc::Status status = fleet_->AdmitAsserted(node, username, key, &response, protocol);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  grpc::Status Kill(const std::string& session_id, v1::KillSessionResponse* response,
                    bool wait = false, bool force = false) {
    v1::KillSessionRequest request;
    request.set_session_id(session_id);
    request.set_wait(wait);
    request.set_force(force);
    return fleet_->admin().KillSession(fleet_->AdminContext().get(), request, response);
  }

  std::unique_ptr<FleetClient> fleet_;
  std::unique_ptr<v1::SessionService::Stub> session_;
};

TEST_F(LiveEnforcementTest, DisablingAUserKillsEverySessionOnEveryProtocolAndNode) {
  TestNode ovpn = fleet_->CreateNode("ovpn-1");
  TestNode quic = fleet_->CreateNode("quic-1");
  TestNode wg = fleet_->CreateNode("wg-1");
  v1::User alice = fleet_->CreateUser("alice", 0);
  FakeAgent quic_agent(fleet_->agent(), quic.credential, {"quic"});
  ASSERT_TRUE(quic_agent.welcomed());
  ASSERT_TRUE(Assert(ovpn, "alice", "ovpn:1", v1::OPENVPN).has_admitted());
  ASSERT_TRUE(Assert(quic, "alice", "quic:1", v1::QUIC).has_admitted());
  ASSERT_TRUE(Assert(wg, "alice", "wg:1", v1::WIREGUARD).has_admitted());

  alice.set_disabled(true);
  ASSERT_TRUE(UpdateUser(alice, "disabled").ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE state = 'closing' "
                     "AND close_reason = 'user_disabled'"),
            3);
  EXPECT_EQ(QueryInt("SELECT count(DISTINCT node_id) FROM commands WHERE kind = 'kill_session' "
                     "AND payload->>'reason' = 'user_disabled'"),
            3);
  std::optional<v1::Command> kill = quic_agent.WaitForCommand([](const v1::Command& command) {
    return command.kind() == v1::KILL_SESSION && command.session_key() == "quic:1";
  });
  ASSERT_TRUE(kill.has_value()) << "pushed to the node's agent at once";
  EXPECT_EQ(kill->reason(), "user_disabled");
  // And nothing of theirs comes back in while disabled.
  v1::AdmitResponse again = Assert(ovpn, "alice", "ovpn:2", v1::OPENVPN);
  ASSERT_TRUE(again.has_denied());
  EXPECT_EQ(again.denied().reason(), v1::USER_DISABLED);
}

TEST_F(LiveEnforcementTest, ANewPasswordEndsTheUsersLoginsUnlessAskedToKeepThem) {
  v1::User bob = fleet_->CreateUser("bob", 0, v1::EVICT_OLDEST, 0, kPassword);
  TestNode node = fleet_->CreateNode("ams-1", NodeTrust::kUntrusted);
  v1::LoginResponse kept = LoginOk("bob", kPassword);

  bob.set_password("another good password");
  ASSERT_TRUE(UpdateUser(bob, "password", /*keep_sessions=*/true).ok());
  v1::IssueConnectTicketRequest still;
  still.set_access_token(kept.access_token());
  v1::IssueConnectTicketResponse ticket;
  EXPECT_TRUE(session_->IssueConnectTicket(Plain().get(), still, &ticket).ok());

  v1::LoginResponse login = LoginOk("bob", "another good password");
  ASSERT_TRUE(AdmitWithTicket(node, TicketOk(login.access_token()), "ovpn:b:1").has_admitted());
  bob.set_password("a third good password");
  ASSERT_TRUE(UpdateUser(bob, "password").ok());

  v1::RefreshRequest refresh;
  refresh.set_refresh_token(login.refresh_token());
  refresh.set_request_id("00112233445566778899aabbccddeeff");
  v1::RefreshResponse refreshed;
  auto context = Plain();
  grpc::Status status = session_->Refresh(context.get(), refresh, &refreshed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  const auto& trailers = context->GetServerTrailingMetadata();
  auto outcome = trailers.find("warden-refresh-outcome");
  ASSERT_NE(outcome, trailers.end());
  EXPECT_EQ(std::string(outcome->second.data(), outcome->second.size()), "SESSION_MISSING");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM login_families WHERE revoked_at IS NOT NULL "
                     "AND revoke_reason = 'password_changed'"),
            2)
      << "both logins end, the kept one included: only that change was asked to keep them";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE session_key = 'ovpn:b:1' "
                     "AND state = 'closing'"),
            1)
      << "and the tunnel opened with the login's ticket is killed";
}

TEST_F(LiveEnforcementTest, LoweringTheLimitEvictsTheOldestNowUnderEvictOldest) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::User carol = fleet_->CreateUser("carol", 0);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(Assert(node, "carol", absl::StrCat("c", i), v1::OPENVPN).has_admitted());
  }
  carol.set_max_connections(1);
  ASSERT_TRUE(UpdateUser(carol, "max_connections").ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE state = 'closing' "
                     "AND close_reason = 'limit_lowered' AND session_key IN ('c1', 'c2')"),
            2);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE state = 'active' AND session_key = 'c3'"),
            1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM commands WHERE payload->>'reason' = 'limit_lowered'"),
            2);
}

TEST_F(LiveEnforcementTest, LoweringTheLimitKeepsSessionsUnderRejectAndRefusesNewOnes) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::User dan = fleet_->CreateUser("dan", 0, v1::REJECT);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(Assert(node, "dan", absl::StrCat("d", i), v1::OPENVPN).has_admitted());
  }
  dan.set_max_connections(1);
  ASSERT_TRUE(UpdateUser(dan, "max_connections").ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE state = 'active'"), 3);
  EXPECT_EQ(Assert(node, "dan", "d4", v1::OPENVPN).denied().reason(), v1::DEVICE_LIMIT_REACHED);
}

TEST_F(LiveEnforcementTest, AConnectionBeingKilledIsRefusedUntilItsKillCompleted) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("erin", 0);
  v1::AdmitResponse admitted = Assert(node, "erin", "wg:e", v1::WIREGUARD);
  v1::KillSessionResponse killed;
  ASSERT_TRUE(Kill(admitted.admitted().session_id(), &killed).ok());

  v1::AdmitResponse again = Assert(node, "erin", "wg:e", v1::WIREGUARD);
  ASSERT_TRUE(again.has_denied()) << again.DebugString();
  EXPECT_EQ(again.denied().reason(), v1::SESSION_ENDING);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM commands WHERE acked_at IS NULL"), 1)
      << "the kill is still pending, not superseded";

  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "wg:e", &closed).ok());
  EXPECT_TRUE(Assert(node, "erin", "wg:e", v1::WIREGUARD).has_admitted());
}

TEST_F(LiveEnforcementTest, ARenegotiationOfAnEndedLoginIsRefused) {
  fleet_->CreateUser("fay", 0, v1::EVICT_OLDEST, 0, kPassword);
  TestNode node = fleet_->CreateNode("ams-1", NodeTrust::kUntrusted);
  v1::LoginResponse login = LoginOk("fay", kPassword);
  const std::string ticket = TicketOk(login.access_token());
  ASSERT_TRUE(AdmitWithTicket(node, ticket, "ovpn:f:1").has_admitted());
  // While the login lives, a renegotiation is the same session, whether
  // the node resends the spent ticket or vouches for the live session.
  EXPECT_TRUE(AdmitWithTicket(node, ticket, "ovpn:f:1").admitted().already_live());
  EXPECT_TRUE(Assert(node, "fay", "ovpn:f:1", v1::OPENVPN).admitted().already_live());

  v1::LogoutRequest logout;
  logout.set_access_token(login.access_token());
  logout.set_scope(v1::CURRENT);
  v1::LogoutResponse out;
  ASSERT_TRUE(session_->Logout(Plain().get(), logout, &out).ok());
  v1::AdmitResponse vouched = Assert(node, "fay", "ovpn:f:1", v1::OPENVPN);
  ASSERT_TRUE(vouched.has_denied());
  EXPECT_EQ(vouched.denied().reason(), v1::BAD_CREDENTIALS);
  v1::AdmitResponse resent = AdmitWithTicket(node, ticket, "ovpn:f:1");
  ASSERT_TRUE(resent.has_denied());
  EXPECT_EQ(resent.denied().reason(), v1::BAD_CREDENTIALS);
}

TEST_F(LiveEnforcementTest, AKillTheNodeCannotCarryOutIsRetriedAndKeepsTheSeat) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("gus", 1);
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  v1::AdmitResponse admitted = Assert(node, "gus", "ovpn:g:1", v1::OPENVPN);
  const std::string session_id = admitted.admitted().session_id();

  v1::KillSessionResponse killed;
  std::thread answer([&] {
    std::optional<v1::Command> kill = agent.WaitForCommand(
        [](const v1::Command& command) { return command.kind() == v1::KILL_SESSION; });
    ASSERT_TRUE(kill.has_value());
    agent.Fail(kill->id(), "management interface: client-kill refused");
  });
  ASSERT_TRUE(Kill(session_id, &killed, /*wait=*/true).ok());
  answer.join();
  EXPECT_TRUE(killed.acknowledged());
  EXPECT_THAT(killed.result(), HasSubstr("client-kill refused"));
  EXPECT_THAT(killed.result(), HasSubstr("retrying"));

  v1::ListSessionsRequest list;
  list.set_state(v1::SESSION_STATE_CLOSING);
  v1::ListSessionsResponse sessions;
  ASSERT_TRUE(fleet_->admin().ListSessions(fleet_->AdminContext().get(), list, &sessions).ok());
  ASSERT_EQ(sessions.sessions_size(), 1);
  EXPECT_TRUE(sessions.sessions(0).has_kill_failed_at());
  EXPECT_THAT(sessions.sessions(0).kill_error(), HasSubstr("client-kill refused"));

  // The tunnel may still be up: its seat is not free, even under EVICT_OLDEST.
  v1::AdmitResponse refused = Assert(node, "gus", "ovpn:g:2", v1::OPENVPN);
  ASSERT_TRUE(refused.has_denied());
  EXPECT_EQ(refused.denied().reason(), v1::DEVICE_LIMIT_REACHED);

  // The kill comes again (after about a second), and this time it works.
  // Once only: a delivery racing with the recorded failure must not send it
  // early (a copy the retry would then take for still in flight).
  auto same_kill = [&](const v1::Command& command) {
    return command.kind() == v1::KILL_SESSION && command.id() == killed.command_id();
  };
  ASSERT_TRUE(WaitFor([&] { return agent.CountCommands(same_kill) >= 2; }));
  EXPECT_EQ(QueryInt(absl::StrCat("SELECT attempts FROM commands WHERE id = ",
                                  killed.command_id(), " AND delivered_at IS NOT NULL")),
            1);
  agent.Ack(killed.command_id());
  EXPECT_TRUE(WaitFor([&] {
    return QueryInt(absl::StrCat("SELECT count(*) FROM commands WHERE id = ", killed.command_id(),
                                 " AND acked_at IS NOT NULL AND result = 'ok'")) == 1;
  }));
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "ovpn:g:1", &closed).ok());
  EXPECT_TRUE(Assert(node, "gus", "ovpn:g:2", v1::OPENVPN).has_admitted());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.kill_failed'"), 1);
  EXPECT_EQ(agent.CountCommands(same_kill), 2);
}

TEST_F(LiveEnforcementTest, AnOperatorMayForceASessionClosed) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("hal", 1, v1::REJECT);
  v1::AdmitResponse admitted = Assert(node, "hal", "ovpn:h:1", v1::OPENVPN);
  v1::KillSessionResponse forced;
  ASSERT_TRUE(Kill(admitted.admitted().session_id(), &forced, false, /*force=*/true).ok());
  EXPECT_THAT(forced.result(), HasSubstr("by force"));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE state = 'closed' "
                     "AND close_reason LIKE 'forced: %'"),
            1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.force_close'"), 1);
  EXPECT_TRUE(Assert(node, "hal", "ovpn:h:2", v1::OPENVPN).has_admitted()) << "the seat is free";
  v1::KillSessionResponse again;
  EXPECT_EQ(Kill(admitted.admitted().session_id(), &again, false, true).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(LiveEnforcementTest, RefusedUsersAreNotToldWhereTheirSeatsAreButAdminsAre) {
  TestNode ams = fleet_->CreateNode("ams-1");
  TestNode fra = fleet_->CreateNode("fra-2");
  fleet_->CreateUser("ivy", 1, v1::REJECT);
  ASSERT_TRUE(Assert(ams, "ivy", "i1", v1::OPENVPN).has_admitted());
  v1::AdmitResponse refused = Assert(fra, "ivy", "i2", v1::OPENVPN);
  ASSERT_TRUE(refused.has_denied());
  EXPECT_EQ(refused.denied().message(), "device limit 1 reached: 1 device is connected");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.deny' "
                     "AND details->>'detail' = 'active on node ams-1'"),
            1);
}

class DetailedDenyMessagesTest : public LiveEnforcementTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.deny_message_detail = true;
  }
};

TEST_F(DetailedDenyMessagesTest, TellRefusedUsersWhereTheirSeatsAre) {
  TestNode ams = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("jay", 1, v1::REJECT);
  ASSERT_TRUE(Assert(ams, "jay", "j1", v1::OPENVPN).has_admitted());
  EXPECT_EQ(Assert(ams, "jay", "j2", v1::OPENVPN).denied().message(),
            "device limit 1 reached: active on node ams-1");
}

}  // namespace
}  // namespace warden::testing
