// A user's device limit holds fleet-wide when their devices connect to
// different nodes in the same instant; users do not wait on each other.

#include "tests/support/admission_race.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace warden::testing {
namespace {

using AdmissionRaceTest = FourNodeFleetTest;

TEST_F(AdmissionRaceTest, RejectAdmitsExactlyTheLimit) {
  fleet_->CreateUser("racer", 3, v1::REJECT);
  RaceOutcome outcome = RunAdmissionRace(*fleet_, nodes_, "racer", 50, db_->url());
  EXPECT_EQ(outcome.rpc_errors, 0);
  EXPECT_EQ(outcome.admitted, 3);
  EXPECT_EQ(outcome.denied, 197);
  EXPECT_EQ(outcome.active, 3);
  EXPECT_EQ(outcome.closing_or_closed, 0);
  EXPECT_EQ(outcome.kill_commands, 0);
}

TEST_F(AdmissionRaceTest, EvictOldestLeavesExactlyTheLimitAndOneKillPerEviction) {
  fleet_->CreateUser("racer", 3, v1::EVICT_OLDEST);
  RaceOutcome outcome = RunAdmissionRace(*fleet_, nodes_, "racer", 50, db_->url());
  EXPECT_EQ(outcome.rpc_errors, 0);
  EXPECT_EQ(outcome.admitted, 200);
  EXPECT_EQ(outcome.active, 3);
  EXPECT_EQ(outcome.closing_or_closed, 197);
  EXPECT_EQ(outcome.kill_commands, 197);
  EXPECT_EQ(outcome.sessions_killed, 197);
  EXPECT_EQ(outcome.kills_of_active, 0);
}

TEST_F(AdmissionRaceTest, UsersDoNotWaitOnEachOther) {
  v1::User blocked = fleet_->CreateUser("blocked", 1);
  fleet_->CreateUser("free", 1);
  // Hold blocked's row lock as an admission in progress would.
  pqxx::connection holder(db_->url());
  pqxx::work lock(holder);
  lock.exec_params("SELECT 1 FROM users WHERE id = $1::uuid FOR UPDATE", blocked.id());

  absl::Notification blocked_done;
  std::thread waiting([&] {
    v1::AdmitResponse response;
    EXPECT_TRUE(fleet_->AdmitAsserted(nodes_[0], "blocked", "b1", &response).ok());
    blocked_done.Notify();
  });
  // While "blocked" waits for its lock, "free" is admitted on other nodes.
  for (int i = 0; i < 3; ++i) {
    v1::AdmitResponse response;
    ASSERT_TRUE(fleet_->AdmitAsserted(nodes_[1 + i], "free", absl::StrCat("f", i), &response).ok());
    EXPECT_TRUE(response.has_admitted());
  }
  EXPECT_FALSE(blocked_done.HasBeenNotified()) << "blocked's admission must still wait";
  lock.abort();
  EXPECT_TRUE(blocked_done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  waiting.join();
}

}  // namespace
}  // namespace warden::testing
