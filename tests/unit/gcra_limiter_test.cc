#include "common/gcra_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

namespace warden {
namespace {

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kStart = 5 * kSecond;  // a fake monotonic clock's reading

TEST(GcraLimiterTest, UnlimitedPassesEverything) {
  GcraLimiter limiter(0, 0, kStart);
  EXPECT_TRUE(limiter.unlimited());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(limiter.TryTake(1 << 20, kStart));
}

TEST(GcraLimiterTest, AFullBudgetPassesTheBurstThenTheRate) {
  GcraLimiter limiter(1000, 64 * 1024, kStart);
  EXPECT_TRUE(limiter.TryTake(64 * 1024, kStart));
  EXPECT_FALSE(limiter.TryTake(1, kStart));
  // 1000 units a second: one more unit after 1 ms, not before.
  EXPECT_FALSE(limiter.TryTake(1, kStart + kSecond / 1000 - 1000));
  EXPECT_TRUE(limiter.TryTake(1, kStart + kSecond / 1000));
  EXPECT_FALSE(limiter.TryTake(1, kStart + kSecond / 1000));
}

TEST(GcraLimiterTest, OfferedLoadAboveTheRateGetsTheRate) {
  // 10 Mbit/s in bytes, 1400-byte packets offered at ten times that for 10 s.
  const int64_t rate = 10'000'000 / 8;
  GcraLimiter limiter(rate, GcraLimiter::BandwidthBurst(rate), kStart);
  int64_t passed = 0;
  const int64_t interval = kSecond * 1400 / (10 * rate);
  for (int64_t now = kStart; now < kStart + 10 * kSecond; now += interval) {
    if (limiter.TryTake(1400, now)) passed += 1400;
  }
  const double expected = static_cast<double>(GcraLimiter::BandwidthBurst(rate) + 10 * rate);
  EXPECT_NEAR(static_cast<double>(passed), expected, expected * 0.005);
}

TEST(GcraLimiterTest, AnIdleBudgetRefillsOnlyToTheBurst) {
  GcraLimiter limiter(100, 200, kStart);
  ASSERT_TRUE(limiter.TryTake(200, kStart));
  // An hour idle: still only the burst at once.
  const int64_t later = kStart + 3600 * kSecond;
  EXPECT_TRUE(limiter.TryTake(200, later));
  EXPECT_FALSE(limiter.TryTake(1, later));
}

TEST(GcraLimiterTest, ACostAboveTheBurstNeverPasses) {
  GcraLimiter limiter(1000, 100, kStart);
  EXPECT_FALSE(limiter.TryTake(101, kStart + 60 * kSecond));
  EXPECT_TRUE(limiter.TryTake(100, kStart + 60 * kSecond));
}

TEST(GcraLimiterTest, RateChangesTakeEffectAtOnce) {
  GcraLimiter limiter(1000, 1000, kStart);
  ASSERT_TRUE(limiter.TryTake(1000, kStart));
  ASSERT_FALSE(limiter.TryTake(1000, kStart + kSecond / 2));
  limiter.SetRate(1'000'000, 1'000'000);  // raised: the debt is paid a thousand times faster
  EXPECT_TRUE(limiter.TryTake(1000, kStart + kSecond / 2));
  limiter.SetRate(0, 0);  // lifted
  EXPECT_TRUE(limiter.TryTake(int64_t{1} << 30, kStart + kSecond / 2));
  limiter.SetRate(10, 10);  // imposed again
  EXPECT_FALSE(limiter.TryTake(11, kStart + 100 * kSecond));
}

TEST(GcraLimiterTest, StaysExactAfterYearsOfUptime) {
  const int64_t years = 10LL * 365 * 24 * 3600 * kSecond;
  GcraLimiter limiter(1000, 1000, kStart);
  EXPECT_TRUE(limiter.TryTake(1000, kStart + years));
  EXPECT_FALSE(limiter.TryTake(1, kStart + years));
  EXPECT_TRUE(limiter.TryTake(1, kStart + years + kSecond / 1000));
}

TEST(GcraLimiterTest, ConcurrentTakersNeverExceedTheBudget) {
  // Two threads race for one budget at one instant: exactly the burst passes.
  GcraLimiter limiter(1000, 100'000, kStart);
  std::atomic<int64_t> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200'000; ++i) {
        if (limiter.TryTake(1, kStart)) passed.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(passed.load(), 100'000);
}

}  // namespace
}  // namespace warden
