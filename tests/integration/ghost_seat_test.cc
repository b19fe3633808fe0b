// No ghost seats, against a real PostgreSQL through gRPC: an admission the
// caller gave up on leaves no session; retries get the same session, also
// after a commit whose answer was lost; an
// agent's reports are never dropped; sessions of a node gone quiet are freed
// and adopted again when it returns; conflicts between transactions are
// retried rather than failed.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "controlplane/store/database.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/tcp_proxy.h"
#include "tests/support/wait.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

class GhostSeatTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.node_offline_close_after = absl::Seconds(30);
    config.sweep_interval = absl::Milliseconds(200);
  }
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
  }

  v1::AdmitRequest Asserted(const std::string& username, const std::string& key,
                            const std::string& attempt = "") {
    v1::AdmitRequest request;
    request.set_protocol(v1::OPENVPN);
    request.set_session_key(key);
    request.mutable_asserted_user()->set_username(username);
    request.set_attempt_id(attempt);
    return request;
  }

  std::unique_ptr<FleetClient> fleet_;
};

TEST_F(GhostSeatTest, AnAdmissionThatOutlivesItsCallerLeavesNoSession) {
  TestNode node = fleet_->CreateNode("ams-1");
  v1::User alice = fleet_->CreateUser("alice", 0);
  // Someone holds alice's row (e.g. a long admission on another replica).
  pqxx::connection holder(db_->url());
  pqxx::work hold(holder);
  hold.exec_params("SELECT 1 FROM users WHERE id = $1::uuid FOR UPDATE", alice.id());

  auto context = FleetClient::NodeContext(node.credential);
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(1500)));
  v1::AdmitResponse response;
  grpc::Status status =
      fleet_->agent().Admit(context.get(), Asserted("alice", "ovpn:late"), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  hold.commit();  // the holder lets go only after the caller gave up
  // Whatever the worker did after the caller gave up, nothing stayed: its
  // admission has ended once it is counted.
  EXPECT_TRUE(WaitFor([&] { return Metric("warden_admission_duration_seconds_count") >= 1; }));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions"), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.admit'"), 0);
}

TEST_F(GhostSeatTest, ARetriedTicketAdmissionGetsTheSameSessionWithoutSpendingAnother) {
  TestNode node = fleet_->CreateNode("ams-1", NodeTrust::kUntrusted);
  fleet_->CreateUser("bob", 0, v1::EVICT_OLDEST, 0, "bob's long password");
  auto sessions = v1::SessionService::NewStub(Channel());
  v1::LoginRequest login_request;
  login_request.set_username("bob");
  login_request.set_password("bob's long password");
  v1::LoginResponse login;
  ASSERT_TRUE(sessions->Login(Context("").get(), login_request, &login).ok());
  v1::IssueConnectTicketRequest ticket_request;
  ticket_request.set_access_token(login.access_token());
  v1::IssueConnectTicketResponse ticket;
  ASSERT_TRUE(sessions->IssueConnectTicket(Context("").get(), ticket_request, &ticket).ok());

  v1::AdmitRequest request;
  request.set_protocol(v1::QUIC);
  request.set_session_key("quic:b1");
  request.set_connect_ticket(ticket.ticket());
  v1::AdmitResponse first, retry, elsewhere;
  ASSERT_TRUE(fleet_->Admit(node.credential, request, &first).ok());
  ASSERT_TRUE(first.has_admitted());
  ASSERT_TRUE(fleet_->Admit(node.credential, request, &retry).ok());
  ASSERT_TRUE(retry.has_admitted()) << retry.DebugString();
  EXPECT_TRUE(retry.admitted().already_live());
  EXPECT_EQ(retry.admitted().session_id(), first.admitted().session_id());
  // The spent ticket is still no good for any other connection.
  request.set_session_key("quic:b2");
  ASSERT_TRUE(fleet_->Admit(node.credential, request, &elsewhere).ok());
  EXPECT_EQ(elsewhere.denied().reason(), v1::BAD_CREDENTIALS);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE state = 'active'"), 1);
}

TEST_F(GhostSeatTest, AnAbandonedAttemptClosesOnlyWhatThatAttemptMade) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("carol", 0);
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  auto abandon = [&](const std::string& key, const std::string& attempt) {
    v1::AgentMessage message;
    message.mutable_event()->mutable_closed()->set_session_key(key);
    message.mutable_event()->mutable_closed()->set_abandoned_attempt_id(attempt);
    message.mutable_event()->mutable_closed()->set_reason("admission abandoned");
    agent.Send(message);
  };
  v1::AdmitResponse response;
  // The answer was lost and the agent refused the connection: closed.
  ASSERT_TRUE(fleet_->Admit(node.credential, Asserted("carol", "k1", "attempt-1"), &response).ok());
  abandon("k1", "attempt-1");
  EXPECT_TRUE(WaitFor([&] {
    return QueryInt(
               "SELECT count(*) FROM sessions WHERE session_key = 'k1' AND state = 'closed'") == 1;
  }));
  // The agent asked again and got the session: the older attempt's report
  // must not close it.
  ASSERT_TRUE(fleet_->Admit(node.credential, Asserted("carol", "k2", "attempt-2"), &response).ok());
  ASSERT_TRUE(fleet_->Admit(node.credential, Asserted("carol", "k2", "attempt-3"), &response).ok());
  ASSERT_TRUE(response.admitted().already_live());
  abandon("k2", "attempt-2");
  abandon("k2", "attempt-9");
  abandon("k1", "attempt-1");  // a repeat: harmless
  // Reports are applied in order: once a later one is in, these are too.
  ASSERT_TRUE(fleet_->Admit(node.credential, Asserted("carol", "k3", "attempt-4"), &response).ok());
  v1::AgentMessage marker;
  marker.mutable_event()->mutable_closed()->set_session_key("k3");
  marker.mutable_event()->mutable_closed()->set_reason("disconnected");
  agent.Send(marker);
  ASSERT_TRUE(WaitFor([&] {
    return QueryInt(
               "SELECT count(*) FROM sessions WHERE session_key = 'k3' AND state = 'closed'") == 1;
  }));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE session_key = 'k2' AND state = 'active'"),
            1);
}

// The backends of the test's database paused inside a COMMIT.
constexpr char kCommitting[] =
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event = 'PgSleep'";

// The control plane reaches PostgreSQL through a hop the test can cut, and
// commits of sessions whose key starts "in-doubt:" pause for 2 s inside
// COMMIT (a deferred trigger), so that a test can lose the connection
// while the server is committing: the one moment whose outcome a client
// cannot know. Calls are not retried through a failover here, so that the
// caller hears of the doubt; FailoverRetriedCommitTest retries them.
class InDoubtCommitTest : public GhostSeatTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    GhostSeatTest::ConfigureControlPlane(config);
    config.db_failover_wait = failover_wait_;
    const std::string url = db_->url();
    const size_t colon = url.rfind(':');
    const size_t slash = url.find('/', colon);
    proxy_ = std::make_unique<TcpProxy>(std::stoi(url.substr(colon + 1, slash - colon - 1)));
    config.database_url = absl::StrCat(url.substr(0, colon + 1), proxy_->port(), url.substr(slash));
    ExecSql(R"sql(
      CREATE FUNCTION pause_in_doubt_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.session_key LIKE 'in-doubt:%' THEN PERFORM pg_sleep(2); END IF;
        RETURN NULL;
      END $$;
      CREATE CONSTRAINT TRIGGER pause_in_doubt_commit AFTER INSERT ON sessions
        DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pause_in_doubt_commit();
    )sql");
  }

  // Admits `key` for `username` on another thread; returns once the server
  // is inside its COMMIT.
  std::jthread AdmitPausedInCommit(const TestNode& node, const std::string& username,
                                   const std::string& key, grpc::Status* status) {
    std::jthread caller([this, node, username, key, status] {
      v1::AdmitResponse response;
      *status = fleet_->Admit(node.credential, Asserted(username, key), &response);
    });
    EXPECT_TRUE(WaitFor([&] { return Committing() == 1; })) << "no commit paused";
    return caller;
  }
  int64_t Committing() {
    return QueryInt(absl::StrCat("SELECT count(*) FROM (", kCommitting, ") paused"));
  }
  // The server's process of the paused commit ends before its commit did
  // (a crash, a failover); how many ended.
  int64_t EndTheCommittingBackend() {
    return QueryInt(absl::StrCat("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM (",
                                 kCommitting, " OFFSET 0) paused"));
  }

  absl::Duration failover_wait_ = absl::ZeroDuration();
  std::unique_ptr<TcpProxy> proxy_;
};

class FailoverRetriedCommitTest : public InDoubtCommitTest {
 protected:
  FailoverRetriedCommitTest() { failover_wait_ = absl::Seconds(10); }
};

TEST_F(InDoubtCommitTest, ACommitWhoseAnswerWasLostIsTheSameSessionWhenAskedAgain) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("alice", 1, v1::REJECT);
  grpc::Status status;
  std::jthread caller = AdmitPausedInCommit(node, "alice", "in-doubt:1", &status);
  proxy_->CutAll();
  caller.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("may or may not have been applied"));
  // The server did not know its client had gone, and committed.
  EXPECT_TRUE(WaitFor([&] { return Committing() == 0; }));
  ASSERT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE session_key = 'in-doubt:1' "
                     "AND state = 'active'"),
            1);
  // The agent asks again, as it does on UNAVAILABLE: the same session, not
  // a second seat.
  v1::AdmitResponse again;
  ASSERT_TRUE(fleet_->Admit(node.credential, Asserted("alice", "in-doubt:1"), &again).ok());
  ASSERT_TRUE(again.has_admitted()) << again.DebugString();
  EXPECT_TRUE(again.admitted().already_live());
  EXPECT_EQ(
      QueryInt(absl::StrCat("SELECT count(*) FROM sessions WHERE id = '",
                            again.admitted().session_id(), "' AND session_key = 'in-doubt:1'")),
      1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE state <> 'closed'"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.admit'"), 1);
  EXPECT_EQ(fleet_->AdmitAssertedOk(node, "alice", "ovpn:a2").denied().reason(),
            v1::DEVICE_LIMIT_REACHED);
}

TEST_F(InDoubtCommitTest, ACommitLostWithItsServerIsMadeOnceWhenAskedAgain) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("bob", 1, v1::REJECT);
  grpc::Status status;
  std::jthread caller = AdmitPausedInCommit(node, "bob", "in-doubt:2", &status);
  EXPECT_EQ(EndTheCommittingBackend(), 1);
  caller.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions"), 0);
  v1::AdmitResponse again;
  ASSERT_TRUE(fleet_->Admit(node.credential, Asserted("bob", "in-doubt:2"), &again).ok());
  ASSERT_TRUE(again.has_admitted()) << again.DebugString();
  EXPECT_FALSE(again.admitted().already_live());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE state <> 'closed'"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.admit'"), 1);
}

// Admissions are idempotent (one live session per key on a node), so the
// control plane asks again by itself within the agent's deadline.
TEST_F(FailoverRetriedCommitTest, ACommitWhoseAnswerWasLostIsAskedAgainAndIsOneSession) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("alice", 1, v1::REJECT);
  grpc::Status status;
  std::jthread caller = AdmitPausedInCommit(node, "alice", "in-doubt:1", &status);
  proxy_->CutAll();
  caller.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE session_key = 'in-doubt:1'"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.admit'"), 1);
  EXPECT_EQ(fleet_->AdmitAssertedOk(node, "alice", "ovpn:a2").denied().reason(),
            v1::DEVICE_LIMIT_REACHED);
}

TEST_F(FailoverRetriedCommitTest, ACommitLostWithItsServerIsMadeOnceByTheRetry) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("bob", 1, v1::REJECT);
  grpc::Status status;
  std::jthread caller = AdmitPausedInCommit(node, "bob", "in-doubt:2", &status);
  EXPECT_EQ(EndTheCommittingBackend(), 1);
  caller.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE state <> 'closed'"), 1);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.admit'"), 1);
}

TEST_F(GhostSeatTest, EveryCloseReportOfABusyAgentIsApplied) {
  TestNode node = fleet_->CreateNode("ams-1");
  fleet_->CreateUser("dave", 0);
  constexpr int kSessions = 12000;  // more than a shared worker queue holds
  ExecSql(absl::StrCat(
      "INSERT INTO sessions (user_id, node_id, protocol, session_key) "
      "SELECT u.id, '",
      node.node.id(), "'::uuid, 'openvpn', 'bulk:' || i FROM users u, generate_series(1, ",
      kSessions, ") i WHERE u.username = 'dave'"));
  std::vector<v1::InventorySession> inventory;
  for (int i = 1; i <= kSessions; ++i) {
    v1::InventorySession item;
    item.set_protocol(v1::OPENVPN);
    item.set_session_key(absl::StrCat("bulk:", i));
    item.set_username("dave");
    inventory.push_back(std::move(item));
  }
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"}, inventory);
  ASSERT_TRUE(agent.welcomed());
  for (int i = 1; i <= kSessions; ++i) {
    v1::AgentMessage message;
    message.mutable_event()->mutable_closed()->set_session_key(absl::StrCat("bulk:", i));
    message.mutable_event()->mutable_closed()->set_reason("client");
    message.mutable_event()->mutable_closed()->set_rx_bytes(i);
    ASSERT_TRUE(agent.Send(message)) << "the stream ended at report " << i;
  }
  EXPECT_TRUE(WaitFor(
      [&] { return QueryInt("SELECT count(*) FROM sessions WHERE state = 'closed'") == kSessions; },
      absl::Seconds(120)))
      << QueryInt("SELECT count(*) FROM sessions WHERE state = 'closed'") << " of " << kSessions;
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE close_reason = 'client' "
                     "AND rx_bytes = substr(session_key, 6)::bigint"),
            kSessions);
}

TEST_F(GhostSeatTest, SessionsOfANodeGoneQuietAreFreedAndAdoptedAgainWhenItReturns) {
  TestNode ams = fleet_->CreateNode("ams-1");
  TestNode fra = fleet_->CreateNode("fra-1");
  fleet_->CreateUser("erin", 1, v1::REJECT);
  v1::AdmitResponse admitted = fleet_->AdmitAssertedOk(ams, "erin", "ovpn:e1");
  ASSERT_TRUE(admitted.has_admitted());
  const std::string session_id = admitted.admitted().session_id();
  EXPECT_EQ(fleet_->AdmitAssertedOk(fra, "erin", "ovpn:f1").denied().reason(),
            v1::DEVICE_LIMIT_REACHED);

  // ams-1 has not been heard from for an hour: its seat comes free.
  ExecSql(absl::StrCat("UPDATE nodes SET last_seen_at = now() - interval '1 hour' WHERE id = '",
                       ams.node.id(), "'"));
  EXPECT_TRUE(WaitFor([&] {
    return QueryInt(absl::StrCat("SELECT count(*) FROM sessions WHERE id = '", session_id,
                                 "' AND state = 'closed' AND close_reason = 'node_lost'")) == 1;
  }));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'session.node_lost'"), 1);
  ASSERT_TRUE(fleet_->AdmitAssertedOk(fra, "erin", "ovpn:f1").has_admitted());
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(fra, "ovpn:f1", &closed).ok());

  // ams-1 returns, still carrying the tunnel: it is adopted again.
  v1::InventorySession item;
  item.set_session_id(session_id);
  item.set_protocol(v1::OPENVPN);
  item.set_session_key("ovpn:e1");
  item.set_username("erin");
  FakeAgent back(fleet_->agent(), ams.credential, {"openvpn"}, {item});
  ASSERT_TRUE(back.welcomed());
  ASSERT_EQ(back.welcome().adopted_size(), 1);
  EXPECT_EQ(back.welcome().adopted(0).session_key(), "ovpn:e1");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE session_key = 'ovpn:e1' "
                     "AND state = 'active'"),
            1);
}

class TransactRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestPostgres::Shared().CreateDatabase();
    database_ = std::make_unique<control::store::Database>(
        control::store::DatabaseOptions{.url = db_->url()},
        std::vector<control::store::Statement>{});
  }
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<control::store::Database> database_;
};

TEST_F(TransactRetryTest, RunsATransactionAgainAfterADeadlockOrSerializationFailure) {
  for (const char* sqlstate : {"40001", "40P01"}) {
    int attempts = 0;
    absl::StatusOr<int> result = database_->Transact(
        {.operation = "conflict once"}, [&](pqxx::work& tx) -> absl::StatusOr<int> {
          if (++attempts == 1) {
            tx.exec(absl::StrCat("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '",
                                 sqlstate, "'; END $$"));
          }
          return tx.exec1("SELECT 42")[0].as<int>();
        });
    ASSERT_TRUE(result.ok()) << sqlstate << ": " << result.status();
    EXPECT_EQ(*result, 42);
    EXPECT_EQ(attempts, 2) << sqlstate;
  }
}

TEST_F(TransactRetryTest, GivesUpAfterABoundedNumberOfConflictsWithAborted) {
  int attempts = 0;
  absl::Status status =
      database_->Transact({.operation = "always conflicting"}, [&](pqxx::work& tx) -> absl::Status {
        ++attempts;
        tx.exec("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40P01'; END $$");
        return absl::OkStatus();
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(attempts, control::store::kMaxConflictRetries + 1);
  // Other errors are not retried.
  attempts = 0;
  status = database_->Transact({.operation = "unique"}, [&](pqxx::work& tx) -> absl::Status {
    ++attempts;
    tx.exec("DO $$ BEGIN RAISE EXCEPTION 'dup' USING ERRCODE = '23505'; END $$");
    return absl::OkStatus();
  });
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(attempts, 1);
}

}  // namespace
}  // namespace warden::testing
