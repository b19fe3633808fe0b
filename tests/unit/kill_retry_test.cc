#include "controlplane/dispatch/kill_retry.h"

#include <gtest/gtest.h>

namespace warden::control::dispatch {
namespace {

TEST(KillRetryTest, WaitsLongerAfterEachFailureUpToAMinute) {
  EXPECT_EQ(KillRetryDelay(1), absl::Seconds(1));
  EXPECT_EQ(KillRetryDelay(2), absl::Seconds(2));
  EXPECT_EQ(KillRetryDelay(3), absl::Seconds(4));
  EXPECT_EQ(KillRetryDelay(6), absl::Seconds(32));
  EXPECT_EQ(KillRetryDelay(7), absl::Minutes(1));
  EXPECT_EQ(KillRetryDelay(1000), absl::Minutes(1));
}

TEST(KillRetryTest, TreatsNonsenseCountsAsTheFirstFailure) {
  EXPECT_EQ(KillRetryDelay(0), absl::Seconds(1));
  EXPECT_EQ(KillRetryDelay(-5), absl::Seconds(1));
}

}  // namespace
}  // namespace warden::control::dispatch
