#include "controlplane/families/login_throttle.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/fake_clock.h"

namespace warden::control::families {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(LoginThrottleTest, TakeTokenFollowsTheBucketRule) {
  // 5 a minute (one every 12 s), bursts of 5: a full bucket may run 48 s
  // ahead of now before an attempt is refused.
  const BucketRule rule{.per_minute = 5, .burst = 5};
  struct Case {
    const char* what;
    absl::Time tat;
    bool allowed;
    absl::Time tat_after;
    absl::Duration retry_after;
  };
  const std::vector<Case> cases = {
      {"never seen", absl::InfinitePast(), true, kNow + absl::Seconds(12), absl::ZeroDuration()},
      {"refilled long ago", kNow - absl::Hours(1), true, kNow + absl::Seconds(12),
       absl::ZeroDuration()},
      {"one taken", kNow + absl::Seconds(12), true, kNow + absl::Seconds(24), absl::ZeroDuration()},
      {"four taken: the fifth passes", kNow + absl::Seconds(48), true, kNow + absl::Seconds(60),
       absl::ZeroDuration()},
      {"five taken: the sixth waits 12 s", kNow + absl::Seconds(60), false,
       kNow + absl::Seconds(60), absl::Seconds(12)},
      {"five taken 5 s ago: 7 s left", kNow + absl::Seconds(55), false, kNow + absl::Seconds(55),
       absl::Seconds(7)},
      {"just refilled one", kNow + absl::Seconds(48) + absl::Nanoseconds(1), false,
       kNow + absl::Seconds(48) + absl::Nanoseconds(1), absl::Nanoseconds(1)},
  };
  for (const Case& c : cases) {
    const BucketStep step = TakeToken(c.tat, kNow, rule);
    EXPECT_EQ(step.allowed, c.allowed) << c.what;
    EXPECT_EQ(step.tat, c.tat_after) << c.what;
    EXPECT_EQ(step.retry_after, c.retry_after) << c.what;
  }
}

TEST(LoginThrottleTest, AZeroRateLetsEverythingPass) {
  const BucketStep step = TakeToken(kNow + absl::Hours(1), kNow, BucketRule{.per_minute = 0});
  EXPECT_TRUE(step.allowed);
}

TEST(LoginThrottleTest, AReturnedTokenMovesTheTatBackNeverBeforeNow) {
  const BucketRule rule{.per_minute = 5, .burst = 5};
  EXPECT_EQ(ReturnToken(kNow + absl::Seconds(60), kNow, rule), kNow + absl::Seconds(48));
  EXPECT_EQ(ReturnToken(kNow + absl::Seconds(5), kNow, rule), kNow);
  EXPECT_EQ(ReturnToken(kNow - absl::Seconds(5), kNow, rule), kNow - absl::Seconds(5));
}

TEST(LoginThrottleTest, ClientAddressKeysNameTheHostAndAnIpv6Slash64) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"ipv4:203.0.113.7:5555", "203.0.113.7"},
      {"ipv4:127.0.0.1:1", "127.0.0.1"},
      {"ipv6:[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2::/64"},
      {"ipv6:%5B2001:db8:1:2::9%5D:443", "2001:db8:1:2::/64"},
      {"ipv6:[::1]:8080", "::/64"},
      {"ipv6:[::ffff:198.51.100.4]:1234", "198.51.100.4"},
      {"ipv6:[fe80::1%eth0]:9", "fe80::/64"},
      {"unix:/run/warden.sock", "local"},
      {"ipv4:not-an-address:1", "unknown"},
  };
  for (const auto& [peer, key] : cases) EXPECT_EQ(ClientAddressKey(peer), key) << peer;
}

TEST(LoginThrottleTest, TheSixthAttemptWithinAMinuteIsRefusedWithRetryAfter) {
  warden::testing::FakeClock clock(kNow);
  LoginThrottle throttle(LoginThrottleOptions{}, clock);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(throttle.Attempt("alice", absl::StrCat("10.0.0.", i)).allowed) << i;
  }
  ThrottleVerdict refused = throttle.Attempt("alice", "10.0.0.9");
  EXPECT_FALSE(refused.allowed);
  EXPECT_TRUE(refused.by_username);
  EXPECT_FALSE(refused.by_address);
  EXPECT_EQ(refused.retry_after, absl::Seconds(12));
  EXPECT_TRUE(throttle.Attempt("bob", "10.0.0.9").allowed) << "other usernames are not held up";
  clock.Advance(absl::Seconds(12));
  EXPECT_TRUE(throttle.Attempt("alice", "10.0.0.9").allowed);
  EXPECT_FALSE(throttle.Attempt("alice", "10.0.0.9").allowed);
}

TEST(LoginThrottleTest, OneAddressTryingManyUsernamesIsRefusedAfterItsBurst) {
  warden::testing::FakeClock clock(kNow);
  LoginThrottle throttle(LoginThrottleOptions{}, clock);
  for (int i = 0; i < 10; ++i)
    EXPECT_TRUE(throttle.Attempt(absl::StrCat("u", i), "1.2.3.4").allowed);
  ThrottleVerdict refused = throttle.Attempt("u10", "1.2.3.4");
  EXPECT_FALSE(refused.allowed);
  EXPECT_TRUE(refused.by_address);
  EXPECT_EQ(refused.retry_after, absl::Seconds(2)) << "30 a minute: one every 2 s";
  EXPECT_TRUE(throttle.Attempt("u10", "1.2.3.5").allowed);
}

TEST(LoginThrottleTest, RefusedAttemptsTakeNoToken) {
  warden::testing::FakeClock clock(kNow);
  LoginThrottle throttle(LoginThrottleOptions{}, clock);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(throttle.Attempt("alice", "10.0.0.1").allowed);
  // Hammering on while refused does not push the refill further away.
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(throttle.Attempt("alice", "10.0.0.1").allowed);
  clock.Advance(absl::Seconds(12));
  EXPECT_TRUE(throttle.Attempt("alice", "10.0.0.1").allowed);
  // Nor was the address bucket: refilled in those 12 s, it has 9 more.
  for (int i = 0; i < 9; ++i)
    EXPECT_TRUE(throttle.Attempt(absl::StrCat("v", i), "10.0.0.1").allowed);
  EXPECT_FALSE(throttle.Attempt("v9", "10.0.0.1").allowed);
}

TEST(LoginThrottleTest, ARightPasswordGivesItsUsernameTokenBackNotItsAddressToken) {
  warden::testing::FakeClock clock(kNow);
  LoginThrottle throttle(LoginThrottleOptions{}, clock);
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(throttle.Attempt("alice", "10.0.0.1").allowed) << i;
    throttle.Succeeded("alice");
  }
  EXPECT_TRUE(throttle.Attempt("alice", "10.0.0.1").allowed);
  EXPECT_TRUE(throttle.Attempt("alice", "10.0.0.1").allowed);
  EXPECT_FALSE(throttle.Attempt("alice", "10.0.0.1").allowed)
      << "the address's burst of 10 is spent";
}

TEST(LoginThrottleTest, ZeroRatesTurnTheThrottleOff) {
  warden::testing::FakeClock clock(kNow);
  LoginThrottle throttle(
      LoginThrottleOptions{.per_username = {.per_minute = 0}, .per_address = {.per_minute = 0}},
      clock);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(throttle.Attempt("alice", "10.0.0.1").allowed);
  EXPECT_EQ(throttle.stats().usernames, 0u);
  EXPECT_EQ(throttle.stats().addresses, 0u);
}

TEST(LoginThrottleTest, RefilledKeysAreForgottenFirst) {
  BucketTable table(BucketRule{.per_minute = 60, .burst = 1}, 2);
  table.Commit("a", kNow + absl::Seconds(1), kNow);
  table.Commit("b", kNow + absl::Seconds(1), kNow);
  // Two seconds later both are full again: a new key costs nobody anything.
  table.Commit("c", kNow + absl::Seconds(3), kNow + absl::Seconds(2));
  EXPECT_EQ(table.size(), 1u);
  EXPECT_EQ(table.evictions(), 0u);
}

TEST(LoginThrottleTest, AFullTableDropsTheKeyNearestToFull) {
  const BucketRule rule{.per_minute = 5, .burst = 5};
  BucketTable table(rule, 3);
  table.Commit("victim", kNow + absl::Seconds(60), kNow);  // five guesses: empty
  table.Commit("x", kNow + absl::Seconds(12), kNow);
  table.Commit("y", kNow + absl::Seconds(24), kNow);
  // A flood of new keys, each one attempt: every one of them pushes out the
  // previous cheapest, never the victim, whose bucket stays empty.
  for (int i = 0; i < 1000; ++i) {
    const std::string key = absl::StrCat("flood", i);
    table.Commit(key, TakeToken(absl::InfinitePast(), kNow, rule).tat, kNow);
  }
  EXPECT_EQ(table.size(), 3u);
  EXPECT_GE(table.evictions(), 1000u);
  EXPECT_FALSE(table.Check("victim", kNow).allowed);
}

TEST(LoginThrottleTest, TheTableNeverHoldsMoreThanItsCap) {
  warden::testing::FakeClock clock(kNow);
  LoginThrottle throttle(LoginThrottleOptions{.per_address = {.per_minute = 0}, .max_keys = 100},
                         clock);
  for (int i = 0; i < 10000; ++i) throttle.Attempt(absl::StrCat("user", i), "10.0.0.1");
  EXPECT_EQ(throttle.stats().usernames, 100u);
  EXPECT_EQ(throttle.stats().username_evictions, 9900u);
}

}  // namespace
}  // namespace warden::control::families
