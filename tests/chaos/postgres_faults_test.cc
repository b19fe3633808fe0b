// Chaos: PostgreSQL itself fails while users come and go. It restarts (fast
// or immediate shutdown), it freezes (SIGSTOP), or one replica loses its
// path to it. Callers must get UNAVAILABLE or a deadline, never a wrong
// answer; replicas must recover by themselves; a kill queued before the
// fault must be delivered after it; and afterwards the nodes and the
// database must agree with nobody over their limit. Each test runs its own
// PostgreSQL, so stopping it disturbs no other test.

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/chaos/churned_fleet.h"
#include "tests/support/netns_link.h"
#include "tests/support/netns_rig.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

class PostgresFaultTest : public ChurnedFleetTest {
 protected:
  // Durable: a crash must not take back commits PostgreSQL acknowledged
  // (what Warden told its callers rests on them).
  TestPostgres& Cluster() override {
    if (cluster_ == nullptr)
      cluster_ = TestPostgres::StartPrivate(TestPostgres::Durability::kDurable);
    return *cluster_;
  }

  // A session `agent` holds now (waits for the churn to open one).
  std::pair<std::string, std::string> HeldSession(Agent& agent) {
    std::pair<std::string, std::string> held;
    EXPECT_TRUE(WaitFor(
        [&] {
          for (const std::string& key : agent.driver().Sessions()) {
            const std::string id = LiveSessionId(key);
            if (!id.empty()) {
              held = {key, id};
              return true;
            }
          }
          return false;
        },
        absl::Seconds(20)));
    return held;
  }

  std::unique_ptr<TestPostgres> cluster_;
};

class PostgresRestartTest : public PostgresFaultTest,
                            public ::testing::WithParamInterface<std::string> {};

TEST_P(PostgresRestartTest, CallersGetUnavailableAndTheFleetRecoversByItself) {
  const std::string mode = GetParam();
  StartFleet();
  Control& a = *controls_[0];
  Control& b = *controls_[1];
  // n-c holds one session of a user of its own and is left out of the
  // churn: it will be stopped.
  Agent& stopped = *agents_[2];
  CreateUser(a, "kept", 1);
  ASSERT_TRUE(absl::StartsWith(stopped.driver().Open("n-c/kept/1", "kept"), "admitted"));
  StartChurn(2, /*agents=*/2);
  absl::SleepFor(absl::Seconds(2));

  // A kill queued before the fault, for an agent that cannot take it yet.
  const auto [key, session_id] = HeldSession(stopped);
  ASSERT_FALSE(session_id.empty());
  stopped.process->Signal(SIGSTOP);
  ASSERT_TRUE(Kill(b, session_id).ok());

  std::cout << "[ INJECTED ] PostgreSQL stopped (" << mode << ") after " << admitted_.load()
            << " admissions, with a kill queued for a stopped agent\n";
  const absl::Time down_at = absl::Now();
  Cluster().Stop(mode);
  EXPECT_TRUE(WaitForLogCount(*a.process, kNotServing, 1, absl::Seconds(10))) << a.process->Log();
  EXPECT_TRUE(WaitForLogCount(*b.process, kNotServing, 1, absl::Seconds(10))) << b.process->Log();
  // Callers hear UNAVAILABLE, never a wrong answer.
  v1::CreateUserRequest request;
  request.mutable_user()->set_username("created-while-down");
  request.mutable_user()->set_max_connections(1);
  v1::User user;
  const grpc::Status while_down = Admin(a)->CreateUser(AdminContext().get(), request, &user);
  EXPECT_EQ(while_down.error_code(), grpc::StatusCode::UNAVAILABLE) << while_down.error_message();
  absl::SleepFor(absl::Seconds(1));
  const int unreachable_during = unreachable_.load();

  Cluster().Start();
  const absl::Time up_at = absl::Now();
  ASSERT_TRUE(WaitForLogCount(*a.process, kServing, 2, absl::Seconds(15))) << a.process->Log();
  ASSERT_TRUE(WaitForLogCount(*b.process, kServing, 2, absl::Seconds(15))) << b.process->Log();
  const absl::Duration serving_again = absl::Now() - up_at;
  stopped.process->Signal(SIGCONT);
  const absl::Time resumed_at = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return Delivered(stopped, key); }, absl::Seconds(30)))
      << "the kill queued before the restart never arrived\n"
      << stopped.process->Log();
  const absl::Duration delivered = absl::Now() - resumed_at;
  ASSERT_TRUE(WaitFor([&] { return AllAttached(); }, absl::Seconds(30)));
  const int admitted_after_restart = admitted_.load();
  absl::SleepFor(absl::Seconds(2));
  StopChurn();
  EXPECT_GT(admitted_.load(), admitted_after_restart) << "admissions resumed after the restart";
  EXPECT_EQ(Query("SELECT count(*) FROM users WHERE username = 'created-while-down'"), 0);

  ExpectConvergedAndWithinLimits();
  std::cout << "[ CHECKED  ] down " << absl::FormatDuration(up_at - down_at) << ", "
            << unreachable_during << " connects refused as unreachable meanwhile; serving again "
            << absl::FormatDuration(serving_again) << " after the start; the queued kill landed "
            << absl::FormatDuration(delivered) << " after its agent resumed\n";
}

INSTANTIATE_TEST_SUITE_P(ShutdownModes, PostgresRestartTest, ::testing::Values("fast", "immediate"),
                         [](const auto& info) { return info.param; });

using PostgresFreezeTest = PostgresFaultTest;

TEST_F(PostgresFreezeTest, DeadlinesHoldWhileItIsFrozenAndTheFleetConvergesAfter) {
  StartFleet();
  Control& a = *controls_[0];
  StartChurn();
  absl::SleepFor(absl::Seconds(2));

  std::cout << "[ INJECTED ] PostgreSQL frozen (SIGSTOP) for 5 s after " << admitted_.load()
            << " admissions\n";
  Cluster().Freeze();
  const absl::Time frozen_at = absl::Now();
  // An admin call with a 2 s deadline ends by its deadline, whatever it meets.
  v1::ListUsersRequest list;
  v1::ListUsersResponse users;
  const absl::Time asked = absl::Now();
  const grpc::Status frozen_answer =
      Admin(a)->ListUsers(AdminContext(absl::Seconds(2)).get(), list, &users);
  const absl::Duration answered_in = absl::Now() - asked;
  EXPECT_TRUE(frozen_answer.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
              frozen_answer.error_code() == grpc::StatusCode::UNAVAILABLE)
      << frozen_answer.error_code() << " " << frozen_answer.error_message();
  EXPECT_LT(answered_in, absl::Seconds(3));
  // The health check has its own deadline: a frozen database is "not serving".
  EXPECT_TRUE(WaitForLogCount(*a.process, kNotServing, 1, absl::Seconds(8))) << a.process->Log();
  absl::SleepFor(frozen_at + absl::Seconds(5) - absl::Now());
  Cluster().Thaw();
  const int unreachable_during = unreachable_.load();

  ASSERT_TRUE(WaitForLogCount(*a.process, kServing, 2, absl::Seconds(15))) << a.process->Log();
  ASSERT_TRUE(WaitFor([&] { return AllAttached(); }, absl::Seconds(30)));
  const int admitted_after = admitted_.load();
  absl::SleepFor(absl::Seconds(2));
  StopChurn();
  EXPECT_GT(admitted_.load(), admitted_after) << "admissions resumed after the thaw";
  // Every connect got its answer within the agent's admit timeout (2 s).
  EXPECT_LE(slowest_open_, absl::Milliseconds(3500));

  ExpectConvergedAndWithinLimits();
  std::cout << "[ CHECKED  ] an admin call ended in " << absl::FormatDuration(answered_in)
            << " (deadline 2s), " << unreachable_during
            << " connects refused as unreachable; slowest connect answered in "
            << absl::FormatDuration(slowest_open_) << "\n";
}

// One replica loses its path to PostgreSQL (a link that goes dark: packets
// dropped, nothing refused) while its agents still reach it.
class ReplicaPartitionTest : public PostgresFaultTest {
 protected:
  static constexpr char kPrefix[] = "wpart";

  void SetUp() override {
    SweepStaleRigs(kPrefix);
    if (std::string why = NetnsRigUnusableReason("replica partition", kPrefix, {"ip"});
        !why.empty()) {
      GTEST_SKIP() << why;
    }
    PostgresFaultTest::SetUp();
    netns_ = std::make_unique<LinkedNamespace>(kPrefix, "replica");
    db_link_ = absl::StrCat("wpd", ::getpid());
    ASSERT_TRUE(netns_->AddPair(db_link_, "db0", "10.201.0.1", "10.201.0.2")) << netns_->error();
    ASSERT_TRUE(
        netns_->AddPair(absl::StrCat("wpa", ::getpid()), "agents0", "10.202.0.1", "10.202.0.2"))
        << netns_->error();
  }

  void TearDown() override {
    PostgresFaultTest::TearDown();
    netns_.reset();
  }

  std::unique_ptr<LinkedNamespace> netns_;
  std::string db_link_;
};

TEST_F(ReplicaPartitionTest, AReplicaCutOffFromTheDatabaseStopsServingAndItsAgentsMove) {
  Cluster().ListenAlso("10.201.0.1", "10.201.0.2/32");
  Control& a = StartControl("a", {},
                            Placement{.host = "10.202.0.2",
                                      .netns = netns_->name(),
                                      .database_url = Cluster().UrlFor(db_->name(), "10.201.0.1")});
  Control& b = StartControl("b");
  Agent& moving = StartAgent("n-a", a, {}, {&b});
  StartAgent("n-b", b, {}, {&a});
  CreateUsers(b);
  ASSERT_EQ(Query("SELECT count(*) FROM nodes WHERE name = 'n-a' AND attached_replica = 'a'"), 1);
  StartChurn();
  absl::SleepFor(absl::Seconds(2));

  std::cout << "[ INJECTED ] replica a's link to PostgreSQL down (packets dropped) after "
            << admitted_.load() << " admissions\n";
  ASSERT_TRUE(netns_->SetLink(db_link_, /*up=*/false, /*inner=*/false)) << netns_->error();
  const absl::Time cut_at = absl::Now();
  ASSERT_TRUE(WaitForLogCount(*a.process, kNotServing, 1, absl::Seconds(10))) << a.process->Log();
  const absl::Duration noticed = absl::Now() - cut_at;
  ASSERT_TRUE(WaitFor(
      [&] {
        return Query("SELECT count(*) FROM nodes WHERE name = 'n-a' AND attached_replica = 'b'") ==
               1;
      },
      absl::Seconds(20)))
      << moving.process->Log();
  const absl::Duration moved = absl::Now() - cut_at;
  // Now that n-a is on b, a kill sent through b reaches it (a user of its
  // own: the churn's evictions would race the kill).
  CreateUser(b, "kept", 1);
  const std::string key = "n-a/kept/1";
  ASSERT_TRUE(absl::StartsWith(moving.driver().Open(key, "kept"), "admitted"));
  const std::string session_id = LiveSessionId(key);
  ASSERT_FALSE(session_id.empty());
  const grpc::Status killed = Kill(b, session_id);
  ASSERT_TRUE(killed.ok()) << killed.error_message();
  ASSERT_TRUE(WaitFor([&] { return Delivered(moving, key); }, absl::Seconds(10)))
      << "a kill through b did not reach n-a";
  const int admitted_cut_off = admitted_.load();
  absl::SleepFor(absl::Seconds(2));
  EXPECT_GT(admitted_.load(), admitted_cut_off) << "admissions went on through b";

  ASSERT_TRUE(netns_->SetLink(db_link_, /*up=*/true, /*inner=*/false)) << netns_->error();
  const absl::Time healed_at = absl::Now();
  const bool serving_again = WaitForLogCount(*a.process, kServing, 2, absl::Seconds(20));
  StopChurn();
  ExpectConvergedAndWithinLimits();
  std::cout << "[ CHECKED  ] a stopped serving " << absl::FormatDuration(noticed)
            << " after the cut; n-a attached to b " << absl::FormatDuration(moved)
            << " after it; a kill through b reached n-a; a serving again after the link came "
               "back: "
            << (serving_again ? absl::FormatDuration(absl::Now() - healed_at) : "not within 20s")
            << "\n";
}

}  // namespace
}  // namespace warden::testing
