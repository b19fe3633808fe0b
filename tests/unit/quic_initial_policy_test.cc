#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

#include "agent/drivers/quic/connection_census.h"
#include "agent/drivers/quic/initial_policy.h"

namespace warden::agent::quic {
namespace {

struct InitialCase {
  const char* name;
  EndpointLimits limits;
  EndpointLoad load;
  TokenCheck token;
  InitialVerdict expected;
};

constexpr EndpointLimits kLimits{
    .max_connections = 100, .retry_threshold = 8, .max_per_address = 4};

TEST(QuicInitialPolicyTest, DecidesEachInitialAsSpecified) {
  const InitialCase cases[] = {
      {"a quiet endpoint accepts without a token",
       kLimits,
       {.connections = 10, .half_open = 2, .from_address = 1},
       TokenCheck::kNone,
       InitialVerdict::kAccept},
      {"many half-open: prove the address first",
       kLimits,
       {.connections = 10, .half_open = 8},
       TokenCheck::kNone,
       InitialVerdict::kRetry},
      {"threshold 0: always prove the address",
       {.max_connections = 100, .retry_threshold = 0, .max_per_address = 4},
       {},
       TokenCheck::kNone,
       InitialVerdict::kRetry},
      {"an address at its allowance proves itself before it is refused",
       kLimits,
       {.connections = 10, .half_open = 0, .from_address = 4},
       TokenCheck::kNone,
       InitialVerdict::kRetry},
      {"a proven address is accepted however many are half-open",
       kLimits,
       {.connections = 50, .half_open = 40, .from_address = 1},
       TokenCheck::kValid,
       InitialVerdict::kAccept},
      {"a proven address whose proven connections fill its allowance is refused",
       kLimits,
       {.connections = 10, .from_address = 4, .proven_from_address = 4},
       TokenCheck::kValid,
       InitialVerdict::kRefuseAddressLimit},
      {"spoofed half-open connections do not use up a real client's allowance",
       kLimits,
       {.connections = 10, .half_open = 6, .from_address = 6, .proven_from_address = 1},
       TokenCheck::kValid,
       InitialVerdict::kAccept},
      {"a Retry token that does not verify is refused",
       kLimits,
       {},
       TokenCheck::kInvalid,
       InitialVerdict::kRefuseInvalidToken},
      {"a full endpoint refuses even a proven address",
       kLimits,
       {.connections = 100, .half_open = 0},
       TokenCheck::kValid,
       InitialVerdict::kRefuseCapacity},
      {"a full endpoint refuses before it checks a token",
       kLimits,
       {.connections = 100},
       TokenCheck::kInvalid,
       InitialVerdict::kRefuseCapacity},
      {"no per-address limit: any number from one address",
       {.max_connections = 5000, .retry_threshold = 8, .max_per_address = 0},
       {.connections = 1000, .half_open = 0, .from_address = 1000, .proven_from_address = 1000},
       TokenCheck::kValid,
       InitialVerdict::kAccept},
      {"no per-address limit, no token, quiet: accept",
       {.max_connections = 5000, .retry_threshold = 8, .max_per_address = 0},
       {.connections = 1000, .half_open = 0, .from_address = 1000},
       TokenCheck::kNone,
       InitialVerdict::kAccept},
  };
  for (const InitialCase& c : cases) {
    EXPECT_EQ(InitialVerdictLabel(DecideInitial(c.limits, c.load, c.token)),
              std::string(InitialVerdictLabel(c.expected)))
        << c.name;
  }
}

TEST(QuicInitialPolicyTest, AHandshakeProvesTheAddressOnlyWithinItsAllowance) {
  EXPECT_TRUE(MayProve(kLimits, {.from_address = 5, .proven_from_address = 3}, false));
  EXPECT_FALSE(MayProve(kLimits, {.from_address = 5, .proven_from_address = 4}, false));
  // Proven by its token already: it was counted when it was accepted.
  EXPECT_TRUE(MayProve(kLimits, {.from_address = 5, .proven_from_address = 4}, true));
  EXPECT_TRUE(MayProve({.max_per_address = 0}, {.proven_from_address = 1000}, false));
}

TEST(QuicInitialPolicyTest, LabelsMatchTheConnectionsMetric) {
  EXPECT_STREQ(InitialVerdictLabel(InitialVerdict::kRetry), "retry");
  EXPECT_STREQ(InitialVerdictLabel(InitialVerdict::kRefuseCapacity), "over_capacity");
  EXPECT_STREQ(InitialVerdictLabel(InitialVerdict::kRefuseInvalidToken), "invalid_token");
  EXPECT_STREQ(InitialVerdictLabel(InitialVerdict::kRefuseAddressLimit), "address_limit");
}

std::string Key(const char* ip) {
  sockaddr_storage storage{};
  if (inet_pton(AF_INET, ip, &reinterpret_cast<sockaddr_in*>(&storage)->sin_addr) == 1) {
    storage.ss_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, ip, &reinterpret_cast<sockaddr_in6*>(&storage)->sin6_addr), 1)
        << ip;
    storage.ss_family = AF_INET6;
  }
  return ClientAddressKey(reinterpret_cast<sockaddr*>(&storage));
}

TEST(QuicConnectionCensusTest, KeysIpv6ByItsSlash64AndMappedIpv4AsIpv4) {
  EXPECT_EQ(Key("192.0.2.7"), Key("::ffff:192.0.2.7"));
  EXPECT_NE(Key("192.0.2.7"), Key("192.0.2.8"));
  EXPECT_EQ(Key("2001:db8:1:2::1"), Key("2001:db8:1:2:ffff::9"));
  EXPECT_NE(Key("2001:db8:1:2::1"), Key("2001:db8:1:3::1"));
  EXPECT_EQ(Key("192.0.2.7").size(), 4u);
  EXPECT_EQ(Key("2001:db8::1").size(), 8u);
}

TEST(QuicConnectionCensusTest, CountsHalfOpenUntilAdmittedOrClosed) {
  ConnectionCensus census;
  ConnectionCensus::Entry admitted, closed, waiting;
  census.Add(admitted, "a", false);
  census.Add(closed, "a", false);
  census.Add(waiting, "b", true);
  EXPECT_EQ(census.connections(), 3u);
  EXPECT_EQ(census.half_open(), 3u);

  census.Prove(admitted);
  census.Settle(admitted);  // admitted
  census.Settle(closed);    // closed before admission
  EXPECT_EQ(census.half_open(), 1u);
  EXPECT_EQ(census.connections(), 3u);  // closed ones are held a while

  const EndpointLoad a = census.Load("a");
  EXPECT_EQ(a.connections, 3u);
  EXPECT_EQ(a.half_open, 1u);
  EXPECT_EQ(a.from_address, 2u);
  EXPECT_EQ(a.proven_from_address, 1u);
  EXPECT_EQ(census.Load("b").proven_from_address, 1u);
  EXPECT_EQ(census.Load("c").from_address, 0u);
}

TEST(QuicConnectionCensusTest, CountsEachTransitionOnce) {
  ConnectionCensus census;
  ConnectionCensus::Entry entry;
  census.Add(entry, "a", false);
  census.Add(entry, "a", false);  // reported twice
  census.Prove(entry);
  census.Prove(entry);
  census.Settle(entry);
  census.Settle(entry);
  EXPECT_EQ(census.connections(), 1u);
  EXPECT_EQ(census.half_open(), 0u);
  EXPECT_EQ(census.Load("a").proven_from_address, 1u);
  census.Remove(entry);
  census.Remove(entry);
  EXPECT_EQ(census.connections(), 0u);
  EXPECT_EQ(census.addresses(), 0u);
  EXPECT_EQ(census.Load("a").from_address, 0u);
}

TEST(QuicConnectionCensusTest, RemovingAHalfOpenConnectionSettlesIt) {
  ConnectionCensus census;
  ConnectionCensus::Entry entry, never_added;
  census.Add(entry, "a", true);
  census.Remove(entry);
  census.Settle(never_added);
  census.Remove(never_added);
  EXPECT_EQ(census.half_open(), 0u);
  EXPECT_EQ(census.connections(), 0u);
  EXPECT_EQ(census.addresses(), 0u);
}

}  // namespace
}  // namespace warden::agent::quic
