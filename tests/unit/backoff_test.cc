#include "common/backoff.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(BackoffTest, GrowsExponentiallyUpToTheCap) {
  Backoff backoff(absl::Milliseconds(100), absl::Seconds(30), /*seed=*/7);
  absl::Duration ceiling = absl::Milliseconds(100);
  for (int i = 0; i < 20; ++i) {
    const absl::Duration delay = backoff.Next();
    EXPECT_GE(delay, absl::ZeroDuration());
    EXPECT_LE(delay, ceiling) << "attempt " << i;
    ceiling = std::min(ceiling * 2, absl::Seconds(30));
  }
}

TEST(BackoffTest, JitterSpreadsDelays) {
  Backoff backoff(absl::Seconds(1), absl::Seconds(1), /*seed=*/1);
  absl::Duration low = absl::Seconds(1), high = absl::ZeroDuration();
  for (int i = 0; i < 200; ++i) {
    const absl::Duration delay = backoff.Next();
    low = std::min(low, delay);
    high = std::max(high, delay);
  }
  EXPECT_LT(low, absl::Milliseconds(100));
  EXPECT_GT(high, absl::Milliseconds(900));
}

TEST(BackoffTest, ResetStartsOver) {
  Backoff backoff(absl::Milliseconds(10), absl::Seconds(30), /*seed=*/3);
  for (int i = 0; i < 10; ++i) backoff.Next();
  backoff.Reset();
  EXPECT_EQ(backoff.attempt(), 0);
  EXPECT_LE(backoff.Next(), absl::Milliseconds(10));
}

}  // namespace
}  // namespace warden
