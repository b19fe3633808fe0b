// The pure pieces of the self-service API: a user's call budget, the
// wg-quick file a device is given, and the host:port rule for endpoints.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/host_port.h"
#include "controlplane/families/call_throttle.h"
#include "controlplane/services/wg_quick.h"
#include "tests/support/fake_clock.h"

namespace warden::control {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(CallThrottleTest, PassesTheBurstThenOneCallPerIntervalPerUser) {
  warden::testing::FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  // 10 a second (one every 100 ms), bursts of 30.
  families::CallThrottle throttle({.rule = {.per_minute = 600, .burst = 30}, .max_keys = 100},
                                  clock);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(throttle.Attempt("alice").allowed) << i;
  const families::BucketStep refused = throttle.Attempt("alice");
  EXPECT_FALSE(refused.allowed);
  EXPECT_GT(refused.retry_after, absl::ZeroDuration());
  EXPECT_LE(refused.retry_after, absl::Milliseconds(100));
  // Another user's budget is their own.
  EXPECT_TRUE(throttle.Attempt("bob").allowed);
  EXPECT_EQ(throttle.keys(), 2u);
  // A refused call took nothing: one interval later exactly one more passes.
  clock.Advance(absl::Milliseconds(100));
  EXPECT_TRUE(throttle.Attempt("alice").allowed);
  EXPECT_FALSE(throttle.Attempt("alice").allowed);
  // A full second refills ten calls.
  clock.Advance(absl::Seconds(1));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(throttle.Attempt("alice").allowed) << i;
  EXPECT_FALSE(throttle.Attempt("alice").allowed);
  // Bob's bucket is full again: it holds nothing worth keeping.
  EXPECT_EQ(throttle.keys(), 1u);
}

TEST(CallThrottleTest, ARateOfZeroLimitsNothingAndKeepsNoKeys) {
  warden::testing::FakeClock clock(absl::FromUnixSeconds(1'800'000'000));
  families::CallThrottle throttle({.rule = {.per_minute = 0, .burst = 1}, .max_keys = 100}, clock);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(throttle.Attempt("alice").allowed) << i;
  EXPECT_EQ(throttle.keys(), 0u);
}

model::Device Phone() {
  model::Device device;
  device.id = "5d1c6a3e-0000-4000-8000-000000000001";
  device.label = "alice-phone";
  device.address_v4 = "10.66.0.7";
  return device;
}

const model::NodePeer kNode{.node_name = "vpn-fra-1",
                            .public_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
                            .endpoint = "vpn-fra-1.example.net:51820"};

TEST(WgQuickTest, RendersTheDeviceAddressesAndTheNodeAsItsPeer) {
  EXPECT_EQ(services::RenderWgQuick(Phone(), kNode),
            "# Warden: device \"alice-phone\" (5d1c6a3e-0000-4000-8000-000000000001) on node "
            "vpn-fra-1\n"
            "[Interface]\n"
            "# PrivateKey = <this device's private key: Warden never sees it>\n"
            "Address = 10.66.0.7/32\n"
            "\n"
            "[Peer]\n"
            "PublicKey = hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=\n"
            "Endpoint = vpn-fra-1.example.net:51820\n"
            "AllowedIPs = 0.0.0.0/0, ::/0\n"
            "PersistentKeepalive = 25\n");
}

TEST(WgQuickTest, AddsTheIpv6AddressAndNeverAPrivateKey) {
  model::Device device = Phone();
  device.address_v6 = "fd66::7";
  const std::string text = services::RenderWgQuick(device, kNode);
  EXPECT_THAT(text, HasSubstr("\nAddress = 10.66.0.7/32, fd66::7/128\n"));
  // The only PrivateKey line is the comment the user fills in.
  EXPECT_THAT(text, Not(HasSubstr("\nPrivateKey")));
}

TEST(HostPortTest, AcceptsNamesAndAddressesWithAPort) {
  for (const char* good :
       {"vpn1.example.net:51820", "203.0.113.7:1", "[2001:db8::1]:65535", "localhost:443"}) {
    EXPECT_TRUE(ValidateHostPort("endpoint", good).ok()) << good;
  }
  for (const char* bad :
       {"", "vpn1.example.net", "vpn1.example.net:", "vpn1.example.net:0", "vpn1.example.net:65536",
        "vpn1.example.net:-1", "a b:1", ":1", "[2001:db8::1:1", "2001:db8::1:51820x", "[g::1]:1",
        "host/x:1", "-lead.example:1"}) {
    absl::Status status = ValidateHostPort("endpoint", bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(status.message()), HasSubstr("endpoint must be host:port")) << bad;
  }
}

}  // namespace
}  // namespace warden::control
