#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "agent/drivers/quic/address_pool.h"
#include "agent/drivers/quic/user_budgets.h"
#include "common/gcra_limiter.h"
#include "common/quic/ipv4.h"

namespace warden::agent::quic {
namespace {

using warden::quic::FormatIpv4;
using warden::quic::FormatIpv4Prefix;
using warden::quic::Ipv4Prefix;

Ipv4Prefix Prefix(const char* text) {
  absl::StatusOr<Ipv4Prefix> prefix = warden::quic::ParseIpv4Prefix(text);
  EXPECT_TRUE(prefix.ok()) << prefix.status();
  return prefix.value_or(Ipv4Prefix{});
}

std::string Format(std::optional<uint32_t> address) {
  return address.has_value() ? FormatIpv4(*address) : "none";
}

TEST(AddressPoolTest, SlashThirtyHandsOutOneClientAddress) {
  AddressPool pool(Prefix("192.168.1.4/30"));
  EXPECT_EQ(FormatIpv4(pool.gateway()), "192.168.1.5");
  EXPECT_EQ(pool.available(), 1u);
  EXPECT_EQ(Format(pool.Acquire()), "192.168.1.6");
  EXPECT_EQ(pool.available(), 0u);
  EXPECT_EQ(pool.Acquire(), std::nullopt);
  EXPECT_EQ(pool.Acquire(), std::nullopt);
  pool.Release(0xC0A80106);
  EXPECT_EQ(pool.available(), 1u);
  EXPECT_EQ(Format(pool.Acquire()), "192.168.1.6");
}

TEST(AddressPoolTest, SlashTwentyFourHandsOutTwoHundredFiftyThree) {
  const Ipv4Prefix prefix = Prefix("10.77.0.0/24");
  AddressPool pool(prefix);
  EXPECT_EQ(FormatIpv4(pool.gateway()), "10.77.0.1");
  EXPECT_EQ(FormatIpv4Prefix(pool.prefix()), "10.77.0.0/24");
  EXPECT_EQ(pool.available(), 253u);
  std::set<uint32_t> seen;
  for (uint32_t host = 2; host <= 254; ++host) {
    std::optional<uint32_t> address = pool.Acquire();
    ASSERT_TRUE(address.has_value()) << host;
    EXPECT_EQ(*address, prefix.network + host);  // in turn
    EXPECT_TRUE(prefix.Contains(*address));
    EXPECT_NE(*address, pool.gateway());
    EXPECT_TRUE(seen.insert(*address).second) << FormatIpv4(*address);
    EXPECT_EQ(pool.available(), 254u - host);
  }
  EXPECT_EQ(seen.size(), 253u);
  EXPECT_EQ(seen.count(prefix.network), 0u);        // the network
  EXPECT_EQ(seen.count(prefix.network + 1), 0u);    // the gateway
  EXPECT_EQ(seen.count(prefix.network + 255), 0u);  // the broadcast
  EXPECT_EQ(pool.Acquire(), std::nullopt);
}

TEST(AddressPoolTest, ReleasedAddressesWaitForTheOthers) {
  const Ipv4Prefix prefix = Prefix("10.77.0.0/29");  // clients .2 to .6
  AddressPool pool(prefix);
  ASSERT_EQ(pool.available(), 5u);
  EXPECT_EQ(Format(pool.Acquire()), "10.77.0.2");
  EXPECT_EQ(Format(pool.Acquire()), "10.77.0.3");
  pool.Release(prefix.network + 2);
  EXPECT_EQ(pool.available(), 4u);
  // .2 is free again, but .4, .5 and .6 come first.
  EXPECT_EQ(Format(pool.Acquire()), "10.77.0.4");
  EXPECT_EQ(Format(pool.Acquire()), "10.77.0.5");
  pool.Release(prefix.network + 4);
  EXPECT_EQ(Format(pool.Acquire()), "10.77.0.6");
  // Round the end: the free ones in turn, skipping .3 and .5 (still in use).
  EXPECT_EQ(Format(pool.Acquire()), "10.77.0.2");
  EXPECT_EQ(Format(pool.Acquire()), "10.77.0.4");
  EXPECT_EQ(pool.available(), 0u);
  EXPECT_EQ(pool.Acquire(), std::nullopt);
  // In turn from where the last one was handed out (.4), not in the order freed.
  pool.Release(prefix.network + 3);
  pool.Release(prefix.network + 5);
  EXPECT_EQ(Format(pool.Acquire()), "10.77.0.5");
  EXPECT_EQ(Format(pool.Acquire()), "10.77.0.3");
  EXPECT_EQ(pool.Acquire(), std::nullopt);
}

TEST(AddressPoolTest, ReleasingUnknownOrUnusedAddressesIsHarmless) {
  const Ipv4Prefix prefix = Prefix("10.77.0.0/29");
  AddressPool pool(prefix);
  ASSERT_EQ(Format(pool.Acquire()), "10.77.0.2");
  ASSERT_EQ(pool.available(), 4u);
  for (uint32_t address :
       {prefix.network, pool.gateway(), prefix.network + 7 /* broadcast */, prefix.network + 8,
        prefix.network - 1, uint32_t{0}, ~uint32_t{0}, prefix.network + 3 /* never handed out */}) {
    pool.Release(address);
    EXPECT_EQ(pool.available(), 4u) << FormatIpv4(address);
  }
  pool.Release(prefix.network + 2);
  EXPECT_EQ(pool.available(), 5u);
  pool.Release(prefix.network + 2);  // twice
  EXPECT_EQ(pool.available(), 5u);
  // Still hands out each address once.
  std::set<uint32_t> seen;
  while (std::optional<uint32_t> address = pool.Acquire()) {
    EXPECT_TRUE(seen.insert(*address).second) << FormatIpv4(*address);
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(pool.available(), 0u);
}

TEST(AddressPoolTest, SlashEightIsLarge) {
  AddressPool pool(Prefix("10.0.0.0/8"));
  EXPECT_EQ(pool.available(), (size_t{1} << 24) - 3);
  EXPECT_EQ(Format(pool.Acquire()), "10.0.0.2");
  EXPECT_EQ(Format(pool.Acquire()), "10.0.0.3");
  EXPECT_EQ(pool.available(), (size_t{1} << 24) - 5);
}

// --- UserBudgets ------------------------------------------------------------------

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kStart = 7 * kSecond;  // a fake monotonic clock's reading

TEST(UserBudgetsTest, ConnectionsOfOneUserShareALimiter) {
  UserBudgets budgets;
  std::shared_ptr<GcraLimiter> first = budgets.Acquire("alice", 1000, kStart);
  std::shared_ptr<GcraLimiter> second = budgets.Acquire("alice", 1000, kStart + kSecond);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first.get(), second.get());
  EXPECT_EQ(budgets.users(), 1u);
  EXPECT_EQ(budgets.RateOf("alice"), 1000);

  std::shared_ptr<GcraLimiter> bob = budgets.Acquire("bob", 1000, kStart);
  EXPECT_NE(bob.get(), first.get());
  EXPECT_EQ(budgets.users(), 2u);
  // Bob's traffic does not use Alice's budget.
  EXPECT_TRUE(bob->TryTake(64 * 1024, kStart));
  EXPECT_TRUE(first->TryTake(64 * 1024, kStart));
}

TEST(UserBudgetsTest, TheLastReleaseRemovesTheBudget) {
  UserBudgets budgets;
  budgets.Acquire("alice", 1000, kStart);
  budgets.Acquire("alice", 1000, kStart);
  budgets.Release("alice");
  EXPECT_EQ(budgets.RateOf("alice"), 1000);
  EXPECT_EQ(budgets.users(), 1u);
  budgets.Release("alice");
  EXPECT_EQ(budgets.RateOf("alice"), -1);
  EXPECT_EQ(budgets.users(), 0u);
  budgets.Release("alice");  // once more, and an unknown user: harmless
  budgets.Release("nobody");
  EXPECT_EQ(budgets.users(), 0u);
}

TEST(UserBudgetsTest, SetRateNeedsAConnection) {
  UserBudgets budgets;
  EXPECT_FALSE(budgets.SetRate("alice", 5000));
  EXPECT_EQ(budgets.RateOf("alice"), -1);
  EXPECT_EQ(budgets.users(), 0u);
  budgets.Acquire("alice", 1000, kStart);
  budgets.Release("alice");
  EXPECT_FALSE(budgets.SetRate("alice", 5000));
  EXPECT_EQ(budgets.users(), 0u);
}

TEST(UserBudgetsTest, SetRateChangesTheSharedLimiter) {
  UserBudgets budgets;
  std::shared_ptr<GcraLimiter> a = budgets.Acquire("alice", 1000, kStart);
  std::shared_ptr<GcraLimiter> b = budgets.Acquire("alice", 1000, kStart);
  ASSERT_EQ(GcraLimiter::BandwidthBurst(1000), 65536);
  // 1000 B/s with a 64 KiB burst: 65536 bytes at once, then not one more.
  EXPECT_TRUE(a->TryTake(65536, kStart));
  EXPECT_FALSE(b->TryTake(1, kStart));
  EXPECT_FALSE(a->TryTake(1, kStart));
  EXPECT_TRUE(a->TryTake(1, kStart + kSecond / 1000));  // the rate refills it

  ASSERT_TRUE(budgets.SetRate("alice", 0));  // unlimited
  EXPECT_EQ(budgets.RateOf("alice"), 0);
  EXPECT_TRUE(a->unlimited());
  EXPECT_TRUE(b->unlimited());
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(b->TryTake(int64_t{1} << 20, kStart + kSecond / 1000));

  ASSERT_TRUE(budgets.SetRate("alice", 1000));  // limited again
  EXPECT_EQ(budgets.RateOf("alice"), 1000);
  EXPECT_FALSE(a->unlimited());
  EXPECT_FALSE(b->TryTake(65537, kStart + 3600 * kSecond));  // above the burst: never
}

TEST(UserBudgetsTest, ANewConnectionBringsTheNewestRate) {
  UserBudgets budgets;
  std::shared_ptr<GcraLimiter> old = budgets.Acquire("alice", 1000, kStart);
  std::shared_ptr<GcraLimiter> newer = budgets.Acquire("alice", 2'000'000, kStart);
  EXPECT_EQ(old.get(), newer.get());
  EXPECT_EQ(budgets.RateOf("alice"), 2'000'000);
  // The burst follows the rate: one second's worth, 2 MB.
  EXPECT_TRUE(old->TryTake(2'000'000, kStart));
  EXPECT_FALSE(old->TryTake(1, kStart));

  // Down to unlimited by the next admission.
  budgets.Acquire("alice", 0, kStart);
  EXPECT_EQ(budgets.RateOf("alice"), 0);
  EXPECT_TRUE(old->unlimited());
  // Three connections: three releases to remove the budget.
  budgets.Release("alice");
  budgets.Release("alice");
  EXPECT_EQ(budgets.RateOf("alice"), 0);
  budgets.Release("alice");
  EXPECT_EQ(budgets.RateOf("alice"), -1);
}

TEST(UserBudgetsTest, AnUnlimitedUserGetsAnUnlimitedLimiter) {
  UserBudgets budgets;
  std::shared_ptr<GcraLimiter> limiter = budgets.Acquire("alice", 0, kStart);
  EXPECT_TRUE(limiter->unlimited());
  EXPECT_TRUE(limiter->TryTake(int64_t{1} << 30, kStart));
  EXPECT_EQ(budgets.RateOf("alice"), 0);
}

TEST(UserBudgetsTest, ABudgetMadeAgainStartsFull) {
  UserBudgets budgets;
  std::shared_ptr<GcraLimiter> first = budgets.Acquire("alice", 1000, kStart);
  ASSERT_TRUE(first->TryTake(65536, kStart));
  ASSERT_FALSE(first->TryTake(1, kStart));
  budgets.Release("alice");
  std::shared_ptr<GcraLimiter> second = budgets.Acquire("alice", 1000, kStart);
  EXPECT_NE(first.get(), second.get());
  EXPECT_TRUE(second->TryTake(65536, kStart));
}

}  // namespace
}  // namespace warden::agent::quic
