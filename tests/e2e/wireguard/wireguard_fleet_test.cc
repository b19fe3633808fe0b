// WireGuard through the whole stack: a real warden-control on a fresh
// database, a real warden-agent whose wireguard driver manages a real
// wireguard-go server interface, and real wireguard-go clients in network
// namespaces, each a registered device.

#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/wireguard/wireguard_rig.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

// A client that had no handshake for a while retries every 5 s (WireGuard's
// REKEY_TIMEOUT): a peer provisioned again answers within that.
constexpr absl::Duration kReconnect = absl::Seconds(30);

class WireGuardFleetTest : public FleetProcessTest {
 protected:
  void SetUp() override {
    FleetProcessTest::SetUp();
    if (std::string why = WireGuardRig::UnusableReason(); !why.empty()) GTEST_SKIP() << why;
    rig_ = StartRig();
    if (HasFailure()) return;
    control_ = &StartControl("a", {"--wg-pool-v4", rig_->tunnel_network()});
    agent_ = StartWireGuardAgent("wg-1", *rig_);
  }
  void TearDown() override {
    rigs_.clear();  // prints the daemons' logs when the test failed
    FleetProcessTest::TearDown();
  }

  // A second server takes the first one's addresses: one device pool.
  WireGuardRig* StartRig() {
    rigs_.push_back(std::make_unique<WireGuardRig>());
    WireGuardRig& rig = *rigs_.back();
    if (rigs_.size() > 1) rig.UseAddressesOf(*rigs_.front());
    absl::Status setup = rig.Setup();
    EXPECT_TRUE(setup.ok()) << setup;
    absl::Status started = rig.StartServerInterface();
    EXPECT_TRUE(started.ok()) << started;
    return &rig;
  }
  Agent* StartWireGuardAgent(const std::string& node, WireGuardRig& rig) {
    Agent& agent = StartAgent(
        node, *control_,
        {"--driver", absl::StrCat("wireguard:iface=", rig.server_iface(), ";poll-ms=100")});
    return &agent;
  }

  v1::Device Register(const std::string& username, const std::string& public_key) {
    v1::RegisterDeviceRequest request;
    request.set_username(username);
    request.set_public_key(public_key);
    request.set_label(username + "-device");
    v1::Device device;
    grpc::Status status = Admin(*control_)->RegisterDevice(AdminContext().get(), request, &device);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return device;
  }
  // A registered device of `username` and its wireguard-go client, at the
  // address Warden allocated.
  WireGuardRig::Client* AddDevice(const std::string& name, const std::string& username) {
    absl::StatusOr<WgKeyPair> keys = rig_->GenerateKeyPair();
    EXPECT_TRUE(keys.ok()) << keys.status();
    if (!keys.ok()) return nullptr;
    const v1::Device device = Register(username, keys->public_key);
    devices_[name] = device;
    absl::StatusOr<WireGuardRig::Client*> client =
        rig_->AddClient(name, {.keys = *keys, .tunnel_ip = device.address_v4()});
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *client : nullptr;
  }
  // Devices a and b of `username` provisioned on the server, and a's
  // tunnel up with its session admitted.
  std::pair<WireGuardRig::Client*, WireGuardRig::Client*> TwoDevicesAndTheFirstConnected(
      const std::string& username) {
    WireGuardRig::Client* a = AddDevice("a", username);
    WireGuardRig::Client* b = AddDevice("b", username);
    [&] {
      ASSERT_TRUE(a != nullptr && b != nullptr);
      ASSERT_TRUE(WaitFor([&] {
        return rig_->ServerHasPeer(a->keys.public_key) && rig_->ServerHasPeer(b->keys.public_key);
      })) << rig_->ServerShow();
      ASSERT_TRUE(rig_->ClientPing(*a, rig_->server_tunnel_ip(), absl::Seconds(10)))
          << rig_->ServerShow();
      ASSERT_TRUE(WaitFor([&] { return !LiveSessionId(KeyOf(*a)).empty(); }));
    }();
    return {a, b};
  }
  static std::string KeyOf(const WireGuardRig::Client& client) {
    return "wg:" + client.keys.public_key;
  }

  std::vector<std::unique_ptr<WireGuardRig>> rigs_;
  WireGuardRig* rig_ = nullptr;
  Control* control_ = nullptr;
  Agent* agent_ = nullptr;
  std::map<std::string, v1::Device> devices_;
};

TEST_F(WireGuardFleetTest, EvictOldestTakesTheOlderDeviceOffWithinThreeSeconds) {
  CreateUser(*control_, "alice", 1, 0, v1::EVICT_OLDEST);
  auto [a, b] = TwoDevicesAndTheFirstConnected("alice");
  if (HasFatalFailure()) return;
  const std::string server_ip = rig_->server_tunnel_ip();

  ASSERT_TRUE(rig_->ClientPing(*b, server_ip, absl::Seconds(10))) << rig_->ServerShow();
  const absl::Time b_started = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return !rig_->ServerHasPeer(a->keys.public_key); }, absl::Seconds(3)))
      << "A's peer is still on the server 3 s after B connected\n"
      << rig_->ServerShow();
  std::cout << "A's peer removed " << absl::FormatDuration(absl::Now() - b_started)
            << " after B's first ping answered\n";
  EXPECT_TRUE(rig_->ClientPingFails(*a, server_ip, 2)) << "the evicted device has no tunnel";
  EXPECT_TRUE(rig_->ClientPing(*b, server_ip, absl::Seconds(5))) << rig_->ServerShow();
  // The agent's report of the close follows its answer to the kill.
  EXPECT_TRUE(WaitFor([&] {
    return Query(absl::StrCat("SELECT count(*) FROM sessions WHERE session_key = '", KeyOf(*a),
                              "' AND state = 'closed'")) == 1;
  }));
  EXPECT_TRUE(LiveSessionId(KeyOf(*a)).empty());
  EXPECT_FALSE(LiveSessionId(KeyOf(*b)).empty());
}

TEST_F(WireGuardFleetTest, RejectKeepsTheSecondDeviceOutUntilTheFirstIsKilled) {
  CreateUser(*control_, "bob", 1, 0, v1::REJECT);
  auto [a, b] = TwoDevicesAndTheFirstConnected("bob");
  if (HasFatalFailure()) return;
  const std::string server_ip = rig_->server_tunnel_ip();
  // Bob's only seat is taken: B's peer comes off before B even tries.
  ASSERT_TRUE(WaitFor([&] { return !rig_->ServerHasPeer(b->keys.public_key); }, absl::Seconds(3)))
      << rig_->ServerShow();
  EXPECT_TRUE(rig_->ClientPingFails(*b, server_ip, 3)) << rig_->ServerShow();
  EXPECT_TRUE(rig_->ClientPing(*a, server_ip, absl::Seconds(5)));
  EXPECT_EQ(
      Query(absl::StrCat("SELECT count(*) FROM sessions WHERE session_key = '", KeyOf(*b), "'")), 0)
      << "B never held a session";

  const std::optional<int64_t> a_handshake = rig_->ServerLatestHandshake(a->keys.public_key);
  ASSERT_TRUE(a_handshake.has_value() && *a_handshake > 0) << rig_->ServerShow();
  v1::KillSessionRequest kill;
  kill.set_session_id(LiveSessionId(KeyOf(*a)));
  kill.set_reason("test");
  kill.set_wait(true);
  v1::KillSessionResponse killed;
  grpc::Status status = Admin(*control_)->KillSession(AdminContext().get(), kill, &killed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(killed.acknowledged());
  // The freed seat re-provisions Bob's withheld devices at once, A's among
  // them, so A's peer may already be back; either way its tunnel is gone.
  const std::optional<int64_t> a_after_kill = rig_->ServerLatestHandshake(a->keys.public_key);
  EXPECT_TRUE(!a_after_kill.has_value() || *a_after_kill != *a_handshake)
      << "a kill removes the peer\n"
      << rig_->ServerShow();

  // The seat is free: B is provisioned again and connects.
  ASSERT_TRUE(WaitFor([&] { return rig_->ServerHasPeer(b->keys.public_key); }, absl::Seconds(5)))
      << rig_->ServerShow();
  ASSERT_TRUE(rig_->ClientPing(*b, server_ip, kReconnect)) << rig_->ServerShow();
  EXPECT_TRUE(WaitFor([&] { return !LiveSessionId(KeyOf(*b)).empty(); }));
}

TEST_F(WireGuardFleetTest, RevokeDeviceRemovesThePeerFromEveryNode) {
  WireGuardRig* second = StartRig();
  ASSERT_FALSE(HasFailure());
  StartWireGuardAgent("wg-2", *second);
  CreateUser(*control_, "carol", 2);
  absl::StatusOr<WgKeyPair> revoked_keys = rig_->GenerateKeyPair();
  absl::StatusOr<WgKeyPair> kept_keys = rig_->GenerateKeyPair();
  ASSERT_TRUE(revoked_keys.ok() && kept_keys.ok());
  const v1::Device revoked = Register("carol", revoked_keys->public_key);
  Register("carol", kept_keys->public_key);
  for (WireGuardRig* rig : {rig_, second}) {
    ASSERT_TRUE(WaitFor([&] {
      return rig->ServerHasPeer(revoked_keys->public_key) &&
             rig->ServerHasPeer(kept_keys->public_key);
    })) << rig->ServerShow();
  }

  v1::RevokeDeviceRequest request;
  request.set_id(revoked.id());
  v1::RevokeDeviceResponse response;
  grpc::Status status = Admin(*control_)->RevokeDevice(AdminContext().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  for (WireGuardRig* rig : {rig_, second}) {
    EXPECT_TRUE(
        WaitFor([&] { return !rig->ServerHasPeer(revoked_keys->public_key); }, absl::Seconds(3)))
        << rig->ServerShow();
    EXPECT_TRUE(rig->ServerHasPeer(kept_keys->public_key)) << rig->ServerShow();
  }
}

// One device per server: a second device on the same server ends the older
// one there, while the user's oldest session, on another server, stays. The
// evicted device stays off its server while the seat there is taken, though
// the user is under the fleet cap (no back and forth between the two).
TEST_F(WireGuardFleetTest, APerNodeCapEvictsOnTheSameNodeAndSparesTheOther) {
  WireGuardRig* second = StartRig();
  ASSERT_FALSE(HasFailure());
  StartWireGuardAgent("wg-2", *second);
  const v1::User user = CreateUser(*control_, "dora", 3, 0, v1::EVICT_OLDEST);
  v1::UpdateUserRequest update;
  update.mutable_user()->set_id(user.id());
  update.mutable_user()->set_max_connections_per_node(1);
  update.mutable_update_mask()->add_paths("max_connections_per_node");
  v1::User updated;
  grpc::Status status = Admin(*control_)->UpdateUser(AdminContext().get(), update, &updated);
  ASSERT_TRUE(status.ok()) << status.error_message();

  // c on wg-2 first: the user's oldest session anywhere.
  absl::StatusOr<WgKeyPair> c_keys = second->GenerateKeyPair();
  ASSERT_TRUE(c_keys.ok()) << c_keys.status();
  const v1::Device c_device = Register("dora", c_keys->public_key);
  absl::StatusOr<WireGuardRig::Client*> c =
      second->AddClient("c", {.keys = *c_keys, .tunnel_ip = c_device.address_v4()});
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(WaitFor([&] { return second->ServerHasPeer(c_keys->public_key); }))
      << second->ServerShow();
  ASSERT_TRUE(second->ClientPing(**c, second->server_tunnel_ip(), absl::Seconds(10)))
      << second->ServerShow();
  ASSERT_TRUE(WaitFor([&] { return !LiveSessionId(KeyOf(**c)).empty(); }));
  const std::string c_session = LiveSessionId(KeyOf(**c));

  auto [a, b] = TwoDevicesAndTheFirstConnected("dora");
  if (HasFatalFailure()) return;
  ASSERT_TRUE(rig_->ClientPing(*b, rig_->server_tunnel_ip(), absl::Seconds(10)))
      << rig_->ServerShow();
  ASSERT_TRUE(WaitFor([&] { return !rig_->ServerHasPeer(a->keys.public_key); }, absl::Seconds(3)))
      << "A's peer is still on wg-1 3 s after B connected there\n"
      << rig_->ServerShow();
  // The peer comes off with the kill; the agent's report of the close follows.
  EXPECT_TRUE(WaitFor([&] {
    return Query(absl::StrCat("SELECT count(*) FROM sessions WHERE session_key = '", KeyOf(*a),
                              "' AND state = 'closed' AND close_reason LIKE 'evicted%'")) == 1;
  }));
  EXPECT_EQ(LiveSessionId(KeyOf(**c)), c_session) << "the session on wg-2 survives";
  EXPECT_TRUE(second->ClientPing(**c, second->server_tunnel_ip(), absl::Seconds(5)));

  // Several reprovisioning rounds later, A is still off wg-1 and B is live.
  absl::SleepFor(absl::Seconds(3));
  EXPECT_FALSE(rig_->ServerHasPeer(a->keys.public_key)) << rig_->ServerShow();
  EXPECT_FALSE(LiveSessionId(KeyOf(*b)).empty());
  EXPECT_TRUE(rig_->ClientPing(*b, rig_->server_tunnel_ip(), absl::Seconds(5)));
}

}  // namespace
}  // namespace warden::testing
