// The WireGuard driver against wireguard-go: a server interface in one
// network namespace, clients with their own wireguard-go in others, the
// driver in this process (UAPI socket) with a fake agent core that admits or
// refuses as the test says. Needs root and the tools; skips otherwise.

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "agent/drivers/wireguard/wireguard_driver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/e2e/wireguard/wireguard_rig.h"
#include "tests/support/recording_driver_host.h"

namespace warden::agent::wireguard {
namespace {

using ::testing::HasSubstr;
using warden::testing::RecordingDriverHost;
using warden::testing::WireGuardRig;

// Polls a condition with a deadline.
bool Eventually(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

PeerSpec SpecFor(const WireGuardRig::Client& client, const std::string& username) {
  PeerSpec spec;
  spec.device_id = absl::StrCat("device-", client.name);
  spec.public_key = client.keys.public_key;
  spec.allowed_ips = {client.allowed_ip};
  spec.username = username;
  return spec;
}

class WireGuardDriverE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::string why = WireGuardRig::UnusableReason(); !why.empty()) GTEST_SKIP() << why;
    rig_ = std::make_unique<WireGuardRig>();
    ASSERT_TRUE(rig_->Setup().ok());
    absl::Status started = rig_->StartServerInterface();
    ASSERT_TRUE(started.ok()) << started;
  }
  void TearDown() override {
    if (driver_) driver_->Stop();
    driver_.reset();
    rig_.reset();  // kills the daemons, deletes the namespaces
  }

  void StartDriver() {
    WireGuardOptions options;
    options.iface = rig_->server_iface();
    options.poll_interval = absl::Milliseconds(100);
    options.state_dir = rig_->dir();
    driver_ = std::make_unique<WireGuardDriver>(options);
    absl::Status started = driver_->Start(host_);
    ASSERT_TRUE(started.ok()) << started;
  }

  RecordingDriverHost host_;
  std::unique_ptr<WireGuardRig> rig_;
  std::unique_ptr<WireGuardDriver> driver_;
};

TEST_F(WireGuardDriverE2ETest, AdmitsRefusesAndKillsRealPeers) {
  absl::StatusOr<WireGuardRig::Client*> a = rig_->AddClient("a");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<WireGuardRig::Client*> b = rig_->AddClient("b");
  ASSERT_TRUE(b.ok()) << b.status();
  const WireGuardRig::Client& alice = **a;
  const WireGuardRig::Client& bob = **b;
  const std::string server_ip = rig_->server_tunnel_ip();
  const std::string alice_key = "wg:" + alice.keys.public_key;
  const std::string bob_key = "wg:" + bob.keys.public_key;

  // Before provisioning the server does not know the clients. (Not shown by
  // a ping: a client whose handshake went unanswered retries only after
  // REKEY_TIMEOUT, 5 s.)
  EXPECT_TRUE(rig_->ServerPeerKeys().empty()) << rig_->ServerShow();

  host_.Refuse("bob");
  StartDriver();
  absl::Status set = driver_->SetPeers({SpecFor(alice, "alice"), SpecFor(bob, "bob")});
  ASSERT_TRUE(set.ok()) << set;
  EXPECT_TRUE(rig_->ServerHasPeer(alice.keys.public_key)) << rig_->ServerShow();
  EXPECT_TRUE(rig_->ServerHasPeer(bob.keys.public_key)) << rig_->ServerShow();

  // Alice's ping makes the handshake; the driver sees it and asks.
  ASSERT_TRUE(rig_->ClientPing(alice, server_ip, absl::Seconds(10))) << rig_->ServerShow();
  ASSERT_TRUE(Eventually(
      [&] { return host_.HasEvent(absl::StrCat("opened ", alice_key, " ", alice.tunnel_ip)); },
      absl::Seconds(10)))
      << host_.Dump();
  EXPECT_TRUE(host_.Asked(alice_key, "alice"));

  // Bob's first packets make a handshake too (the peer is provisioned);
  // the refusal then takes his peer off the interface.
  (void)rig_->ClientPing(bob, server_ip, absl::Seconds(3));
  ASSERT_TRUE(
      Eventually([&] { return !rig_->ServerHasPeer(bob.keys.public_key); }, absl::Seconds(10)))
      << host_.Dump() << rig_->ServerShow();
  EXPECT_TRUE(host_.Asked(bob_key, "bob")) << host_.Dump();
  EXPECT_TRUE(rig_->ClientPingFails(bob, server_ip, 2)) << "a refused peer has no tunnel";
  EXPECT_TRUE(rig_->ClientPing(alice, server_ip, absl::Seconds(5))) << "alice is not affected";
  std::vector<DriverSession> inventory = driver_->Inventory();
  ASSERT_EQ(inventory.size(), 1u);
  EXPECT_EQ(inventory[0].session_key, alice_key);
  EXPECT_THAT(inventory[0].client_address, HasSubstr(":"));  // alice's endpoint, ip:port

  // A kill takes alice's peer off and reports the session closed.
  ASSERT_TRUE(driver_->Kill(alice_key, "killed by the test").ok());
  EXPECT_FALSE(rig_->ServerHasPeer(alice.keys.public_key)) << rig_->ServerShow();
  EXPECT_TRUE(
      host_.HasEventStartingWith(absl::StrCat("closed ", alice_key, " killed by the test rx=")))
      << host_.Dump();
  EXPECT_TRUE(rig_->ClientPingFails(alice, server_ip, 2)) << "a killed peer has no tunnel";
  EXPECT_TRUE(driver_->Inventory().empty());

  // Re-provisioned (ADD_PEER), alice is asked again and back. Her client
  // still holds the old session's keys, which the server has forgotten; it
  // makes a new handshake only when its data has gone unanswered for
  // KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s).
  ASSERT_TRUE(driver_->AddPeer(SpecFor(alice, "alice")).ok());
  ASSERT_TRUE(rig_->ClientPing(alice, server_ip, absl::Seconds(30))) << rig_->ServerShow();
  ASSERT_TRUE(Eventually([&] { return driver_->Inventory().size() == 1u; }, absl::Seconds(10)))
      << host_.Dump();
}

TEST_F(WireGuardDriverE2ETest, LeavesForeignPeersAndRemembersItsOwn) {
  absl::StatusOr<WireGuardRig::Client*> a = rig_->AddClient("a");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<WireGuardRig::Client*> b = rig_->AddClient("b");
  ASSERT_TRUE(b.ok()) << b.status();
  const WireGuardRig::Client& alice = **a;
  const WireGuardRig::Client& foreign = **b;
  // An operator's own peer, configured by hand.
  std::string output;
  ASSERT_EQ(rig_->RunInNs(rig_->server_ns(),
                          {"wg", "set", rig_->server_iface(), "peer", foreign.keys.public_key,
                           "allowed-ips", foreign.allowed_ip},
                          absl::Seconds(10), &output),
            0)
      << output;

  StartDriver();
  ASSERT_TRUE(driver_->SetPeers({SpecFor(alice, "alice")}).ok());
  ASSERT_TRUE(rig_->ClientPing(foreign, rig_->server_tunnel_ip(), absl::Seconds(10)));
  ASSERT_TRUE(rig_->ClientPing(alice, rig_->server_tunnel_ip(), absl::Seconds(10)));
  ASSERT_TRUE(Eventually([&] { return driver_->Inventory().size() == 1u; }, absl::Seconds(10)))
      << host_.Dump();
  EXPECT_FALSE(host_.Asked(absl::StrCat("wg:", foreign.keys.public_key))) << host_.Dump();

  // A restarted agent carries alice's session without asking again, and
  // still knows that alice's peer, not the foreign one, is its own.
  driver_->Stop();
  driver_.reset();
  StartDriver();
  std::vector<DriverSession> inventory = driver_->Inventory();
  ASSERT_EQ(inventory.size(), 1u);
  EXPECT_EQ(inventory[0].session_key, "wg:" + alice.keys.public_key);
  ASSERT_TRUE(driver_->SetPeers({}).ok());
  EXPECT_FALSE(rig_->ServerHasPeer(alice.keys.public_key)) << rig_->ServerShow();
  EXPECT_TRUE(rig_->ServerHasPeer(foreign.keys.public_key)) << rig_->ServerShow();
  EXPECT_TRUE(rig_->ClientPing(foreign, rig_->server_tunnel_ip(), absl::Seconds(5)));
}

}  // namespace
}  // namespace warden::agent::wireguard
