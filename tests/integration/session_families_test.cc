// Login session families through gRPC against a real PostgreSQL: Login,
// rotating refresh tokens (every outcome, the renewal lease, replay), Logout,
// connect tickets redeemed inside the admission transaction, and the admin
// calls that revoke families and kill their tunnels.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
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

// A request_id: long enough to pass as random (the tests need them stable).
std::string Rid(const std::string& name) {
  return absl::StrCat(name, "-3f9c0a7e5b1d4c2f8a6e0b9d7c5a3e1f");
}

class SessionFamiliesTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    // Short, so that a spent token presented again is a replay within the test.
    config.refresh_lease = absl::Seconds(2);
  }
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
    session_ = v1::SessionService::NewStub(Channel());
    alice_ = fleet_->CreateUser("alice", 5, v1::EVICT_OLDEST, 0, kPassword);
  }

  static std::unique_ptr<grpc::ClientContext> Plain() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    return context;
  }

  grpc::Status Login(const std::string& username, const std::string& password,
                     v1::LoginResponse* response) {
    v1::LoginRequest request;
    request.set_username(username);
    request.set_password(password);
    request.set_device_label("alice-laptop");
    return session_->Login(Plain().get(), request, response);
  }
  v1::LoginResponse LoginOk() {
    v1::LoginResponse response;
    grpc::Status status = Login("alice", kPassword, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  struct RefreshResult {
    grpc::Status status;
    v1::RefreshResponse response;
    std::string outcome;  // trailing "warden-refresh-outcome"
  };
  RefreshResult Refresh(const std::string& token, const std::string& request_id) {
    v1::RefreshRequest request;
    request.set_refresh_token(token);
    request.set_request_id(request_id);
    auto context = Plain();
    RefreshResult result;
    result.status = session_->Refresh(context.get(), request, &result.response);
    const auto& trailers = context->GetServerTrailingMetadata();
    if (auto it = trailers.find("warden-refresh-outcome"); it != trailers.end()) {
      result.outcome = std::string(it->second.data(), it->second.size());
    }
    return result;
  }

  grpc::Status IssueTicket(const std::string& access_token, std::string* ticket) {
    v1::IssueConnectTicketRequest request;
    request.set_access_token(access_token);
    v1::IssueConnectTicketResponse response;
    grpc::Status status = session_->IssueConnectTicket(Plain().get(), request, &response);
    *ticket = response.ticket();
    return status;
  }
  std::string TicketOk(const std::string& access_token) {
    std::string ticket;
    grpc::Status status = IssueTicket(access_token, &ticket);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return ticket;
  }

  v1::AdmitResponse AdmitWithTicket(const TestNode& node, const std::string& ticket,
                                    const std::string& key, const std::string& typed = "") {
    v1::AdmitRequest request;
    request.set_protocol(v1::OPENVPN);
    request.set_session_key(key);
    request.set_connect_ticket(ticket);
    request.set_claimed_username(typed);
    v1::AdmitResponse response;
    grpc::Status status = fleet_->Admit(node.credential, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status Logout(const std::string& access_token, v1::LogoutScope scope,
                      v1::LogoutResponse* response) {
    v1::LogoutRequest request;
    request.set_access_token(access_token);
    request.set_scope(scope);
    return session_->Logout(Plain().get(), request, response);
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    return tx.exec1(sql)[0].as<int64_t>();
  }
  // The refresh rule reads how long ago a token was rotated on the
  // database's clock: the family's spent tokens are made older there
  // instead of the test waiting for it.
  void RotatedAgo(const std::string& family_id, absl::Duration ago) {
    ExecSql(absl::StrCat("UPDATE refresh_tokens SET rotated_at = rotated_at - interval '",
                         absl::ToInt64Milliseconds(ago), " milliseconds' WHERE family_id = '",
                         family_id, "' AND rotated_at IS NOT NULL"));
  }
  bool FamilyRevoked(const std::string& family_id) {
    return Count(absl::StrCat("SELECT count(*) FROM login_families WHERE id = '", family_id,
                              "' AND revoked_at IS NOT NULL")) == 1;
  }

  std::unique_ptr<FleetClient> fleet_;
  std::unique_ptr<v1::SessionService::Stub> session_;
  v1::User alice_;
};

TEST_F(SessionFamiliesTest, LoginReturnsFreshTokensAndAFamily) {
  v1::LoginResponse login = LoginOk();
  EXPECT_TRUE(absl::StartsWith(login.access_token(), "wat_")) << login.access_token();
  EXPECT_EQ(login.access_token().size(), 68u);
  EXPECT_TRUE(absl::StartsWith(login.refresh_token(), "wrt_"));
  EXPECT_FALSE(login.family_id().empty());
  const absl::Time access_expiry = absl::FromUnixSeconds(login.access_expires_at().seconds());
  EXPECT_NEAR(absl::ToDoubleMinutes(access_expiry - absl::Now()), 15, 1);
  const absl::Time family_expiry = absl::FromUnixSeconds(login.family_expires_at().seconds());
  EXPECT_NEAR(absl::ToDoubleHours(family_expiry - absl::Now()), 24 * 30, 1);
  EXPECT_NE(LoginOk().family_id(), login.family_id()) << "each login is a family of its own";
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = 'family.login'"), 2);
}

TEST_F(SessionFamiliesTest, LoginErrorsSayWhatWasWrongAndNoMore) {
  const v1::User bob = fleet_->CreateUser("bob", 1, v1::EVICT_OLDEST, 0, kPassword);
  v1::UpdateUserRequest disable;
  disable.mutable_user()->set_id(bob.id());
  disable.mutable_user()->set_disabled(true);
  disable.mutable_update_mask()->add_paths("disabled");
  v1::User updated;
  ASSERT_TRUE(fleet_->admin().UpdateUser(fleet_->AdminContext().get(), disable, &updated).ok());

  struct Case {
    std::string username;
    std::string password;
    grpc::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"alice", "wrong password!", grpc::StatusCode::UNAUTHENTICATED,
       "unknown user or wrong password"},
      {"nobody", kPassword, grpc::StatusCode::UNAUTHENTICATED, "unknown user or wrong password"},
      {"bob", "wrong password!", grpc::StatusCode::UNAUTHENTICATED,
       "unknown user or wrong password"},
      {"bob", kPassword, grpc::StatusCode::PERMISSION_DENIED, "disabled"},
      {"Not A Name!", kPassword, grpc::StatusCode::INVALID_ARGUMENT, "username"},
      {"alice", "", grpc::StatusCode::INVALID_ARGUMENT, "password"},
  };
  for (const Case& c : cases) {
    v1::LoginResponse response;
    grpc::Status status = Login(c.username, c.password, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.username << ": " << status.error_message();
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.username;
    EXPECT_TRUE(response.access_token().empty());
  }
  EXPECT_EQ(Count("SELECT count(*) FROM login_families"), 0);
}

TEST_F(SessionFamiliesTest, RefreshRotatesAndTheOldTokenIsSpent) {
  v1::LoginResponse login = LoginOk();
  RefreshResult rotated = Refresh(login.refresh_token(), Rid("request-0000000001"));
  ASSERT_TRUE(rotated.status.ok()) << rotated.status.error_message();
  EXPECT_EQ(rotated.outcome, "ROTATED");
  EXPECT_EQ(rotated.response.outcome(), v1::ROTATED);
  EXPECT_NE(rotated.response.refresh_token(), login.refresh_token());
  EXPECT_NE(rotated.response.access_token(), login.access_token());
  EXPECT_EQ(rotated.response.family_id(), login.family_id());
  EXPECT_FALSE(rotated.response.recovered());
  // The new access token works; so does the old one until it expires.
  std::string ticket;
  EXPECT_TRUE(IssueTicket(rotated.response.access_token(), &ticket).ok());
  EXPECT_TRUE(IssueTicket(login.access_token(), &ticket).ok());

  RefreshResult again = Refresh(rotated.response.refresh_token(), Rid("request-0000000002"));
  ASSERT_TRUE(again.status.ok()) << again.status.error_message();
  EXPECT_EQ(Count(absl::StrCat("SELECT rotations FROM login_families WHERE id = '",
                               login.family_id(), "'")),
            2);
}

TEST_F(SessionFamiliesTest, RefreshOutcomesForBadTokens) {
  v1::LoginResponse login = LoginOk();
  struct Case {
    std::string token;
    std::string request_id;
    grpc::StatusCode code;
    std::string outcome;
  };
  const std::string unknown = "wrt_" + std::string(64, 'a');
  const std::vector<Case> cases = {
      {"not-a-token", Rid("request-0000000001"), grpc::StatusCode::INVALID_ARGUMENT, ""},
      {"wrt_ABC", Rid("request-0000000001"), grpc::StatusCode::INVALID_ARGUMENT, ""},
      {login.access_token(), Rid("request-0000000001"), grpc::StatusCode::INVALID_ARGUMENT, ""},
      {login.refresh_token(), "short", grpc::StatusCode::INVALID_ARGUMENT, ""},
      {unknown, Rid("request-0000000001"), grpc::StatusCode::UNAUTHENTICATED, "SESSION_MISSING"},
  };
  for (const Case& c : cases) {
    RefreshResult result = Refresh(c.token, c.request_id);
    EXPECT_EQ(result.status.error_code(), c.code)
        << c.token << " " << result.status.error_message();
    EXPECT_EQ(result.outcome, c.outcome) << c.token;
    EXPECT_THAT(result.status.error_message(), ::testing::Not(HasSubstr("SELECT")));
  }
  // An unknown token and a revoked family's token read the same.
  v1::LogoutResponse logout;
  ASSERT_TRUE(Logout(login.access_token(), v1::CURRENT, &logout).ok());
  RefreshResult revoked = Refresh(login.refresh_token(), Rid("request-0000000003"));
  EXPECT_EQ(revoked.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(revoked.outcome, "SESSION_MISSING");
  EXPECT_EQ(revoked.status.error_message(),
            Refresh(unknown, Rid("request-0000000004")).status.error_message());
}

TEST_F(SessionFamiliesTest, ARetryWithTheSameRequestIdRecoversTheRotation) {
  v1::LoginResponse login = LoginOk();
  RefreshResult first = Refresh(login.refresh_token(), Rid("retry-request-0001"));
  ASSERT_TRUE(first.status.ok());
  // The answer was lost; the client retries the same request.
  RefreshResult retry = Refresh(login.refresh_token(), Rid("retry-request-0001"));
  ASSERT_TRUE(retry.status.ok()) << retry.status.error_message();
  EXPECT_EQ(retry.outcome, "ROTATED");
  EXPECT_TRUE(retry.response.recovered());
  EXPECT_EQ(retry.response.refresh_token(), first.response.refresh_token());
  EXPECT_EQ(retry.response.access_token(), first.response.access_token());
  EXPECT_FALSE(FamilyRevoked(login.family_id()));

  // Once the newer token is used, the old request has nothing to recover:
  // playing it back is a replay.
  ASSERT_TRUE(Refresh(first.response.refresh_token(), Rid("retry-request-0002")).status.ok());
  RotatedAgo(login.family_id(), absl::Milliseconds(2200));  // past the lease: not a late duplicate
  RefreshResult stale = Refresh(login.refresh_token(), Rid("retry-request-0001"));
  EXPECT_EQ(stale.outcome, "REFRESH_TOKEN_MISMATCH");
  EXPECT_TRUE(FamilyRevoked(login.family_id()));
}

TEST_F(SessionFamiliesTest, AnotherRequestWithASpentTokenWithinTheLeaseIsToldOffNotReplay) {
  v1::LoginResponse login = LoginOk();
  ASSERT_TRUE(Refresh(login.refresh_token(), Rid("winner-request-001")).status.ok());
  RefreshResult loser = Refresh(login.refresh_token(), Rid("loser-request-0001"));
  EXPECT_EQ(loser.status.error_code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(loser.outcome, "LEASE_UNAVAILABLE");
  EXPECT_THAT(loser.status.error_message(), HasSubstr("do not retry"));
  EXPECT_FALSE(FamilyRevoked(login.family_id()));
}

TEST_F(SessionFamiliesTest, ReplayRevokesTheFamilyKillsItsTunnelsOnEveryNodeAndAudits) {
  TestNode ams = fleet_->CreateNode("ams-1");
  TestNode fra = fleet_->CreateNode("fra-1");
  FakeAgent ams_agent(fleet_->agent(), ams.credential, {"openvpn"});
  FakeAgent fra_agent(fleet_->agent(), fra.credential, {"openvpn"});
  ASSERT_TRUE(ams_agent.welcomed() && fra_agent.welcomed());

  v1::LoginResponse login = LoginOk();
  ASSERT_TRUE(AdmitWithTicket(ams, TicketOk(login.access_token()), "ovpn:a:1").has_admitted());
  ASSERT_TRUE(AdmitWithTicket(fra, TicketOk(login.access_token()), "ovpn:f:1").has_admitted());
  // A session of alice's opened with her password is not the family's.
  v1::AdmitResponse other;
  ASSERT_TRUE(fleet_->AdmitAsserted(ams, "alice", "ovpn:a:2", &other).ok());
  ASSERT_TRUE(other.has_admitted());
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM sessions WHERE family_id = '",
                               login.family_id(), "'")),
            2);

  RefreshResult rotated = Refresh(login.refresh_token(), Rid("honest-request-01"));
  ASSERT_TRUE(rotated.status.ok());
  RotatedAgo(login.family_id(), absl::Milliseconds(2200));  // past the lease: no race to excuse it
  RefreshResult replay = Refresh(login.refresh_token(), Rid("thief-request-0001"));
  EXPECT_EQ(replay.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(replay.outcome, "REFRESH_TOKEN_MISMATCH");
  EXPECT_TRUE(FamilyRevoked(login.family_id()));

  for (FakeAgent* agent : {&ams_agent, &fra_agent}) {
    std::optional<v1::Command> kill = agent->WaitForCommand(
        [](const v1::Command& command) { return command.kind() == v1::KILL_SESSION; });
    ASSERT_TRUE(kill.has_value());
    EXPECT_EQ(kill->reason(), "refresh_token_replay");
    agent->Ack(kill->id());
  }
  EXPECT_TRUE(WaitFor([&] {
    return Count(
               "SELECT count(*) FROM commands WHERE kind = 'kill_session' "
               "AND acked_at IS NOT NULL") == 2;
  }));
  EXPECT_EQ(Count("SELECT count(*) FROM sessions WHERE session_key = 'ovpn:a:2' "
                  "AND state = 'active'"),
            1)
      << "sessions outside the family stay";
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM audit_events WHERE action = "
                               "'refresh_token_replay' AND subject = 'family:",
                               login.family_id(), "'")),
            1);
  // The newest token of the family is dead too, and so is the access token.
  EXPECT_EQ(Refresh(rotated.response.refresh_token(), Rid("honest-request-02")).outcome,
            "SESSION_MISSING");
  std::string ticket;
  EXPECT_EQ(IssueTicket(rotated.response.access_token(), &ticket).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(SessionFamiliesTest, LogoutCurrentEndsTheLoginAndFamilyAlsoKillsItsTunnels) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::LoginResponse first = LoginOk();
  v1::LoginResponse second = LoginOk();
  ASSERT_TRUE(AdmitWithTicket(node, TicketOk(first.access_token()), "ovpn:a:1").has_admitted());
  ASSERT_TRUE(AdmitWithTicket(node, TicketOk(second.access_token()), "ovpn:a:2").has_admitted());

  v1::LogoutResponse current;
  ASSERT_TRUE(Logout(first.access_token(), v1::CURRENT, &current).ok());
  EXPECT_EQ(current.sessions_killed(), 0);
  EXPECT_TRUE(FamilyRevoked(first.family_id()));
  std::string ticket;
  EXPECT_EQ(IssueTicket(first.access_token(), &ticket).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Count("SELECT count(*) FROM sessions WHERE state = 'active'"), 2)
      << "CURRENT leaves the tunnels up";

  v1::LogoutResponse family;
  ASSERT_TRUE(Logout(second.access_token(), v1::FAMILY, &family).ok());
  EXPECT_EQ(family.sessions_killed(), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM sessions WHERE session_key = 'ovpn:a:2' "
                  "AND state = 'closing'"),
            1);
  EXPECT_FALSE(FamilyRevoked(LoginOk().family_id())) << "alice can log in again";

  // The first login's tunnel can still be ended with its family.
  v1::RevokeFamilyRequest revoke;
  revoke.set_family_id(first.family_id());
  v1::RevokeFamilyResponse revoked;
  ASSERT_TRUE(fleet_->admin().RevokeFamily(fleet_->AdminContext().get(), revoke, &revoked).ok());
  EXPECT_EQ(revoked.families_revoked(), 0);
  EXPECT_EQ(revoked.sessions_killed(), 1);
}

TEST_F(SessionFamiliesTest, ATicketAdmitsOnceAndTheSessionRemembersItsFamily) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::LoginResponse login = LoginOk();
  const std::string ticket = TicketOk(login.access_token());
  EXPECT_TRUE(absl::StartsWith(ticket, "wct_"));
  EXPECT_EQ(ticket.size(), 68u);

  v1::AdmitResponse admitted = AdmitWithTicket(node, ticket, "ovpn:a:1");
  ASSERT_TRUE(admitted.has_admitted()) << admitted.DebugString();
  EXPECT_EQ(admitted.admitted().username(), "alice");
  v1::ListSessionsRequest list;
  list.set_user_id(alice_.id());
  v1::ListSessionsResponse sessions;
  ASSERT_TRUE(fleet_->admin().ListSessions(fleet_->AdminContext().get(), list, &sessions).ok());
  ASSERT_EQ(sessions.sessions_size(), 1);
  EXPECT_EQ(sessions.sessions(0).family_id(), login.family_id());

  fleet_->CreateUser("bob", 1, v1::EVICT_OLDEST, 0, kPassword);
  v1::AdmitResponse as_bob =
      AdmitWithTicket(node, TicketOk(login.access_token()), "ovpn:b:1", "bob");
  ASSERT_TRUE(as_bob.has_denied()) << "alice's ticket with the username bob";
  EXPECT_EQ(as_bob.denied().reason(), v1::BAD_CREDENTIALS);
  EXPECT_TRUE(
      AdmitWithTicket(node, TicketOk(login.access_token()), "ovpn:a:5", "Alice").has_admitted());

  v1::AdmitResponse reused = AdmitWithTicket(node, ticket, "ovpn:a:2");
  ASSERT_TRUE(reused.has_denied());
  EXPECT_EQ(reused.denied().reason(), v1::BAD_CREDENTIALS);

  const std::string expired = TicketOk(login.access_token());
  Count(
      absl::StrCat("WITH e AS (UPDATE tickets SET expires_at = now() - interval '1 second' "
                   "WHERE used_at IS NULL RETURNING 1) SELECT count(*) FROM e"));
  EXPECT_EQ(AdmitWithTicket(node, expired, "ovpn:a:3").denied().reason(), v1::BAD_CREDENTIALS);

  v1::AdmitRequest malformed;
  malformed.set_protocol(v1::OPENVPN);
  malformed.set_session_key("ovpn:a:4");
  malformed.set_connect_ticket("wct_nothex");
  v1::AdmitResponse response;
  EXPECT_EQ(fleet_->Admit(node.credential, malformed, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(SessionFamiliesTest, ATicketConsumedByADeniedAdmissionStaysConsumed) {
  fleet_->CreateUser("carol", 1, v1::REJECT, 0, kPassword);
  TestNode node = fleet_->CreateNode("ams-1");
  v1::LoginResponse carol;
  ASSERT_TRUE(Login("carol", kPassword, &carol).ok());
  ASSERT_TRUE(AdmitWithTicket(node, TicketOk(carol.access_token()), "ovpn:c:1").has_admitted());
  const std::string ticket = TicketOk(carol.access_token());
  EXPECT_EQ(AdmitWithTicket(node, ticket, "ovpn:c:2").denied().reason(), v1::DEVICE_LIMIT_REACHED);
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "ovpn:c:1", &closed).ok());
  EXPECT_EQ(AdmitWithTicket(node, ticket, "ovpn:c:2").denied().reason(), v1::BAD_CREDENTIALS)
      << "a ticket is worth one try";
}

TEST_F(SessionFamiliesTest, TheEleventhOutstandingTicketIsRefused) {
  v1::LoginResponse login = LoginOk();
  for (int i = 0; i < 10; ++i) TicketOk(login.access_token());
  std::string ticket;
  grpc::Status refused = IssueTicket(login.access_token(), &ticket);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("10 unused connect tickets"));
  // Expired ones stop counting.
  Count(
      "WITH e AS (UPDATE tickets SET expires_at = now() - interval '1 second' "
      "RETURNING 1) SELECT count(*) FROM e");
  EXPECT_TRUE(IssueTicket(login.access_token(), &ticket).ok());
}

TEST_F(SessionFamiliesTest, TwoNodesRedeemingOneTicketAtOnceAdmitOnce) {
  TestNode ams = fleet_->CreateNode("ams-1");
  TestNode fra = fleet_->CreateNode("fra-1");
  v1::LoginResponse login = LoginOk();
  for (int round = 0; round < 10; ++round) {
    const std::string ticket = TicketOk(login.access_token());
    std::atomic<int> admitted{0};
    std::vector<std::thread> nodes;
    for (const TestNode* node : {&ams, &fra}) {
      nodes.emplace_back([&, node] {
        if (AdmitWithTicket(*node, ticket, absl::StrCat("ovpn:race:", round)).has_admitted()) {
          ++admitted;
        }
      });
    }
    for (std::thread& node : nodes) node.join();
    EXPECT_EQ(admitted.load(), 1) << "round " << round;
  }
}

TEST_F(SessionFamiliesTest, AdminListsAndRevokesFamilies) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::LoginResponse first = LoginOk();
  v1::LoginResponse second = LoginOk();
  ASSERT_TRUE(AdmitWithTicket(node, TicketOk(first.access_token()), "ovpn:a:1").has_admitted());
  ASSERT_TRUE(Refresh(first.refresh_token(), Rid("request-0000000001")).status.ok());

  v1::ListFamiliesRequest list;
  list.set_username("alice");
  v1::ListFamiliesResponse families;
  ASSERT_TRUE(fleet_->admin().ListFamilies(fleet_->AdminContext().get(), list, &families).ok());
  ASSERT_EQ(families.families_size(), 2);
  EXPECT_EQ(families.families(0).id(), second.family_id()) << "newest first";
  EXPECT_EQ(families.families(1).rotations(), 1);
  EXPECT_EQ(families.families(1).device_label(), "alice-laptop");

  v1::RevokeFamilyRequest revoke;
  revoke.set_family_id(first.family_id());
  revoke.set_reason("lost laptop");
  v1::RevokeFamilyResponse revoked;
  ASSERT_TRUE(fleet_->admin().RevokeFamily(fleet_->AdminContext().get(), revoke, &revoked).ok());
  EXPECT_EQ(revoked.sessions_killed(), 1);
  grpc::Status twice = fleet_->admin().RevokeFamily(fleet_->AdminContext().get(), revoke, &revoked);
  EXPECT_EQ(twice.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  revoke.set_family_id("00000000-0000-0000-0000-00000000abcd");
  EXPECT_EQ(
      fleet_->admin().RevokeFamily(fleet_->AdminContext().get(), revoke, &revoked).error_code(),
      grpc::StatusCode::NOT_FOUND);

  v1::RevokeUserFamiliesRequest all;
  all.set_username("alice");
  ASSERT_TRUE(fleet_->admin().RevokeUserFamilies(fleet_->AdminContext().get(), all, &revoked).ok());
  EXPECT_EQ(revoked.families_revoked(), 1);
  list.set_include_revoked(false);
  ASSERT_TRUE(fleet_->admin().ListFamilies(fleet_->AdminContext().get(), list, &families).ok());
  EXPECT_EQ(families.families_size(), 0);
  list.set_include_revoked(true);
  ASSERT_TRUE(fleet_->admin().ListFamilies(fleet_->AdminContext().get(), list, &families).ok());
  ASSERT_EQ(families.families_size(), 2);
  EXPECT_EQ(families.families(1).revoke_reason(), "admin: lost laptop");
}

TEST_F(SessionFamiliesTest, TheDatabaseHoldsNoTokenTicketOrPasswordInPlainText) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::LoginResponse login = LoginOk();
  RefreshResult rotated = Refresh(login.refresh_token(), Rid("request-0000000001"));
  ASSERT_TRUE(rotated.status.ok());
  const std::string used = TicketOk(rotated.response.access_token());
  const std::string unused = TicketOk(rotated.response.access_token());
  ASSERT_TRUE(AdmitWithTicket(node, used, "ovpn:a:1").has_admitted());

  std::vector<std::string> secrets = {kPassword,
                                      login.access_token(),
                                      login.refresh_token(),
                                      rotated.response.access_token(),
                                      rotated.response.refresh_token(),
                                      used,
                                      unused};
  // Also without their prefixes, and as the hex a bytea would show.
  const size_t count = secrets.size();
  for (size_t i = 1; i < count; ++i) secrets.push_back(secrets[i].substr(4));
  pqxx::connection connection(db_->url());
  pqxx::nontransaction tx(connection);
  int tables = 0;
  for (const auto& table : tx.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")) {
    ++tables;
    const std::string name = table[0].as<std::string>();
    for (const auto& row : tx.exec(absl::StrCat("SELECT t::text FROM \"", name, "\" t"))) {
      const std::string text = row[0].as<std::string>();
      for (const std::string& secret : secrets) {
        EXPECT_EQ(text.find(secret), std::string::npos) << "table " << name << " holds " << secret;
      }
    }
  }
  EXPECT_GE(tables, 10);
}

// 20 refreshes of one token at once (different requests, as from a client
// with a race): one rotates, the others are told to wait, nobody is taken
// for a thief.
class RefreshRaceTest : public SessionFamiliesTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.refresh_lease = absl::Seconds(5);
  }
};

TEST_F(RefreshRaceTest, TwentyConcurrentRefreshesRotateOnceWithoutAFalseReplay) {
  v1::LoginResponse login = LoginOk();
  std::map<std::string, int> outcomes;
  absl::Mutex mu;
  std::vector<std::thread> callers;
  for (int i = 0; i < 20; ++i) {
    callers.emplace_back([&, i] {
      RefreshResult result =
          Refresh(login.refresh_token(), Rid(absl::StrCat("race-request-", 1000 + i)));
      absl::MutexLock lock(&mu);
      ++outcomes[result.outcome];
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(outcomes["ROTATED"], 1) << ::testing::PrintToString(outcomes);
  EXPECT_EQ(outcomes["LEASE_UNAVAILABLE"], 19) << ::testing::PrintToString(outcomes);
  EXPECT_EQ(outcomes["REFRESH_TOKEN_MISMATCH"], 0);
  EXPECT_FALSE(FamilyRevoked(login.family_id()));
}

}  // namespace
}  // namespace warden::testing
