// Admin lists and statistics on a hot standby (--database-read-url), with a
// real streaming standby: they come from it and lag its replay, single reads
// and writes stay on the primary, and while the standby is down or hung
// lists read from the primary.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "absl/algorithm/container.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ::testing::Contains;
using ::testing::Not;

class ReadReplicaTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    primary_ = TestPostgres::StartPrivate();
    db_ = primary_->CreateDatabase();
    standby_ = primary_->StartStandby();
    control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
    config.database_read_url = standby_->UrlFor(db_->name());
    config.db_read_pool_size = 3;
    config.metrics_listen = "127.0.0.1:0";
    // A call on a hung standby is abandoned 2 s after this.
    config.db_statement_timeout = absl::Seconds(1);
    config.health_interval = absl::Milliseconds(200);
    StartControlPlane(config);
  }
  void TearDown() override {
    if (frozen_) standby_->Thaw();
    ControlPlaneTest::TearDown();
    standby_.reset();
    primary_.reset();
  }

  v1::User CreateUser(const std::string& username) {
    v1::CreateUserRequest request;
    request.mutable_user()->set_username(username);
    v1::User user;
    grpc::Status status = Admin()->CreateUser(Context().get(), request, &user);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return user;
  }
  std::vector<std::string> ListedUsernames() {
    v1::ListUsersResponse response;
    grpc::Status status = Admin()->ListUsers(Context().get(), v1::ListUsersRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> names;
    for (const v1::User& user : response.users()) names.push_back(user.username());
    return names;
  }
  std::vector<std::string> AuditedSubjects() {
    v1::ListAuditEventsRequest request;
    request.set_action("user.create");
    v1::ListAuditEventsResponse response;
    grpc::Status status = Admin()->ListAuditEvents(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> subjects;
    for (const v1::AuditEvent& event : response.events()) subjects.push_back(event.subject());
    return subjects;
  }
  void OnStandby(const std::string& sql) {
    pqxx::connection connection(standby_->UrlFor(db_->name()));
    pqxx::nontransaction tx(connection);
    tx.exec(sql);
  }
  // Pausing takes effect asynchronously: returns once replay has stopped.
  void PauseReplay() {
    OnStandby("SELECT pg_wal_replay_pause()");
    ASSERT_TRUE(WaitFor([&] {
      pqxx::connection connection(standby_->UrlFor(db_->name()));
      pqxx::nontransaction tx(connection);
      return tx.exec1("SELECT pg_get_wal_replay_pause_state()")[0].as<std::string>() == "paused";
    }));
  }

  std::unique_ptr<TestPostgres> primary_;
  std::unique_ptr<TestPostgres> standby_;
  bool frozen_ = false;
};

TEST_F(ReadReplicaTest, ListsComeFromTheStandbyAndLagItsReplay) {
  CreateUser("ada");
  EXPECT_TRUE(WaitFor([&] { return absl::c_linear_search(ListedUsernames(), "ada"); }));
  // The standby stops replaying: what is written now is on the primary only.
  PauseReplay();
  const v1::User bob = CreateUser("bob");
  v1::GetUserRequest get;
  get.set_id(bob.id());
  v1::User got;
  grpc::Status status = Admin()->GetUser(Context().get(), get, &got);
  ASSERT_TRUE(status.ok()) << "single reads are the primary's: " << status.error_message();
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_THAT(ListedUsernames(), Not(Contains("bob")));
  EXPECT_THAT(AuditedSubjects(), Not(Contains("user:" + bob.id())));
  EXPECT_THAT(AuditedSubjects(), Contains(::testing::StartsWith("user:")));
  OnStandby("SELECT pg_wal_replay_resume()");
  EXPECT_TRUE(WaitFor([&] { return absl::c_linear_search(ListedUsernames(), "bob"); }));
  EXPECT_THAT(AuditedSubjects(), Contains("user:" + bob.id()));
}

TEST_F(ReadReplicaTest, ReportsItsPoolApartFromThePrimarys) {
  CreateUser("gus");
  EXPECT_TRUE(WaitFor([&] { return absl::c_linear_search(ListedUsernames(), "gus"); }));
  absl::StatusOr<PrometheusText> metrics = ScrapeMetrics(control_->metrics_port());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->Value("warden_db_pool_size", {{"pool", "reads"}}), 6)
      << "3 libpqxx and 3 pipelined";
  EXPECT_TRUE(metrics->Has("warden_db_pool_size", {{"pool", "primary"}}));
  EXPECT_GT(metrics->Value("warden_db_pool_wait_seconds_count", {{"pool", "reads"}}), 0)
      << "the lists took their connections from the read pool";
  EXPECT_GE(metrics->Value("warden_db_pool_connections", {{"pool", "reads"}, {"state", "idle"}}),
            1);
  EXPECT_EQ(metrics->Value("warden_db_pool_waiting", {{"pool", "reads"}}), 0);
  EXPECT_EQ(metrics->Value("warden_db_failover_retries_total", {{"pool", "reads"}}), 0);
}

TEST_F(ReadReplicaTest, ListsReadFromThePrimaryWhileTheStandbyIsDown) {
  CreateUser("carol");
  EXPECT_TRUE(WaitFor([&] { return absl::c_linear_search(ListedUsernames(), "carol"); }));
  standby_->Stop("immediate");
  CreateUser("dan");
  // Pooled connections to the standby died with it; lists go on, from the
  // primary (dan was written after the standby went).
  EXPECT_THAT(ListedUsernames(), Contains("dan"));
  EXPECT_THAT(ListedUsernames(), Contains("carol"));

  // Back, it serves lists again once the fallback's hold (5 s) has passed.
  standby_->Start();
  EXPECT_TRUE(WaitFor([&] { return absl::c_linear_search(ListedUsernames(), "dan"); }));
  PauseReplay();
  CreateUser("erin");
  EXPECT_TRUE(WaitFor([&] { return !absl::c_linear_search(ListedUsernames(), "erin"); },
                      absl::Seconds(15)))
      << "lists never went back to the standby";
}

TEST_F(ReadReplicaTest, AHungStandbyCostsACallSecondsNotItsDeadline) {
  CreateUser("fay");
  EXPECT_TRUE(WaitFor([&] { return absl::c_linear_search(ListedUsernames(), "fay"); }));
  // Lists side by side leave several idle connections to it: none may be
  // tried once one was found hung.
  {
    std::vector<std::jthread> lists;
    for (int i = 0; i < 4; ++i) lists.emplace_back([&] { ListedUsernames(); });
  }
  // Its host stops it: connections to it still open, nothing answers.
  standby_->Freeze();
  frozen_ = true;
  CreateUser("gus");
  // The list waiting on it is abandoned (statement timeout + 2 s), a new
  // connection times out (3 s), and it is read from the primary, well
  // within the call's 10 s deadline; the next one goes there at once.
  EXPECT_THAT(ListedUsernames(), Contains("gus"));
  EXPECT_THAT(ListedUsernames(), Contains("gus"));
}

}  // namespace
}  // namespace warden::testing
