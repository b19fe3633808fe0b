// The WireGuard driver's observer as the pure function it is: owned peers
// and one read of the interface in, bookkeeping and actions out. No
// interface, no threads, no clock: the read time is a parameter.

#include "agent/drivers/wireguard/peer_observer.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace warden::agent::wireguard {
namespace {

using ::testing::IsEmpty;
using ::testing::SizeIs;

const absl::Time kRead = absl::FromUnixSeconds(1795415224);

Key KeyOf(uint8_t byte) {
  Key key{};
  key.fill(byte);
  return key;
}

class PeerObserverTest : public ::testing::Test {
 protected:
  PeerObserverTest() {
    OwnedPeer& peer = owned_[alice_];
    peer.spec.public_key = KeyToBase64(alice_);
    peer.spec.username = "alice";
    peer.spec.device_id = "alice-laptop";
    peer.spec.allowed_ips = {"10.66.0.7/32"};
    peer.added_at = kRead - absl::Hours(1);
  }

  // The interface holds alice, who handshook `ago` before the read.
  WgDevice Device(absl::Duration ago, int64_t rx = 0, int64_t tx = 0,
                  const std::string& endpoint = "203.0.113.7:51820") {
    WgDevice device;
    WgPeer& peer = device.peers.emplace_back();
    peer.public_key = alice_;
    peer.endpoint = endpoint;
    peer.last_handshake_unix_sec = absl::ToUnixSeconds(kRead - ago);
    peer.rx_bytes = rx;
    peer.tx_bytes = tx;
    return device;
  }

  PeerActions Observe(const WgDevice& device, absl::Time read_at = kRead, bool adopt = false) {
    return ObservePeers(owned_, device,
                        Observation{.read_at = read_at,
                                    .poll = ++poll_,
                                    .adopt = adopt,
                                    .stale_after = absl::Seconds(180),
                                    .usage_interval = absl::Seconds(10)},
                        next_ticket_);
  }

  // Alice's session is live since `kRead`, with counters at zero.
  void Live() {
    ASSERT_THAT(Observe(Device(absl::Seconds(1)), kRead, /*adopt=*/true).admissions, IsEmpty());
    ASSERT_EQ(owned_[alice_].session, SessionState::kLive);
  }

  const Key alice_ = KeyOf(7);
  OwnedPeerMap owned_;
  uint64_t poll_ = 0;
  uint64_t next_ticket_ = 0;
};

TEST_F(PeerObserverTest, AsksToAdmitAFreshHandshake) {
  PeerActions actions = Observe(Device(absl::Seconds(5)));
  ASSERT_THAT(actions.admissions, SizeIs(1));
  const AdmitQuery& query = actions.admissions[0].query;
  EXPECT_EQ(query.protocol, Protocol::kWireGuard);
  EXPECT_EQ(query.session_key, SessionKeyFor(alice_));
  EXPECT_EQ(query.username, "alice");
  EXPECT_EQ(query.device_label, "alice-laptop");
  EXPECT_EQ(query.client_address, "203.0.113.7:51820");
  EXPECT_FALSE(query.password.has_value()) << "the driver vouches for a provisioned device";
  EXPECT_EQ(actions.admissions[0].ticket, owned_[alice_].ticket);
  EXPECT_EQ(owned_[alice_].session, SessionState::kAdmitting);
  EXPECT_THAT(actions.reports, IsEmpty());

  EXPECT_THAT(Observe(Device(absl::Seconds(6))).admissions, IsEmpty()) << "asked once";
}

TEST_F(PeerObserverTest, AdoptsAFreshSessionAtStartWithoutAsking) {
  PeerActions actions = Observe(Device(absl::Seconds(5), 100, 200), kRead, /*adopt=*/true);
  EXPECT_THAT(actions.admissions, IsEmpty());
  EXPECT_THAT(actions.reports, IsEmpty());
  EXPECT_EQ(owned_[alice_].session, SessionState::kLive);
  EXPECT_EQ(owned_[alice_].rx, 100);
  EXPECT_EQ(owned_[alice_].opened_at, kRead);
}

TEST_F(PeerObserverTest, IgnoresStaleAndEarlierLifeHandshakes) {
  EXPECT_THAT(Observe(Device(absl::Seconds(181))).admissions, IsEmpty()) << "stale";
  owned_[alice_].added_at = kRead - absl::Seconds(2);
  EXPECT_THAT(Observe(Device(absl::Seconds(5))).admissions, IsEmpty())
      << "a handshake from before the peer was added belongs to its earlier life";
}

TEST_F(PeerObserverTest, LeavesForeignPeersAlone) {
  WgDevice device = Device(absl::Seconds(1));
  device.peers[0].public_key = KeyOf(9);  // not owned
  owned_.clear();
  PeerActions actions = Observe(device);
  EXPECT_THAT(actions.admissions, IsEmpty());
  EXPECT_THAT(actions.repairs, IsEmpty());
  EXPECT_THAT(owned_, IsEmpty());
}

TEST_F(PeerObserverTest, EndsAStaleSessionAsIdle) {
  Live();
  PeerActions actions = Observe(Device(absl::Seconds(181), 500, 700));
  ASSERT_THAT(actions.reports, SizeIs(1));
  const SessionReport& closed = actions.reports[0];
  EXPECT_EQ(closed.kind, SessionReport::Kind::kClosed);
  EXPECT_EQ(closed.reason, "idle");
  EXPECT_EQ(closed.rx, 500);
  EXPECT_EQ(closed.tx, 700);
  EXPECT_EQ(owned_[alice_].session, SessionState::kNone);
  EXPECT_EQ(owned_[alice_].rx_counted, 500) << "the next session counts from here";
}

TEST_F(PeerObserverTest, ReportsUsageAtMostEveryInterval) {
  Live();
  EXPECT_THAT(Observe(Device(absl::Seconds(1), 10, 20), kRead + absl::Seconds(5)).reports,
              IsEmpty());
  PeerActions due = Observe(Device(absl::Seconds(1), 10, 20), kRead + absl::Seconds(10));
  ASSERT_THAT(due.reports, SizeIs(1));
  EXPECT_EQ(due.reports[0].kind, SessionReport::Kind::kUsage);
  EXPECT_EQ(due.reports[0].rx, 10);
  EXPECT_EQ(due.reports[0].tx, 20);
  EXPECT_THAT(Observe(Device(absl::Seconds(1), 10, 20), kRead + absl::Seconds(30)).reports,
              IsEmpty())
      << "nothing moved: nothing to report";
}

TEST_F(PeerObserverTest, FollowsARoamingClient) {
  Live();
  Observe(Device(absl::Seconds(1), 0, 0, "198.51.100.2:4444"));
  EXPECT_EQ(owned_[alice_].endpoint, "198.51.100.2:4444");
}

TEST_F(PeerObserverTest, CountsAfreshWhenThePeerWasRecreated) {
  Live();
  owned_[alice_].rx_counted = 1000;  // counters from before
  Observe(Device(absl::Seconds(1), 40, 50));
  EXPECT_EQ(owned_[alice_].rx_counted, 0);
  EXPECT_EQ(owned_[alice_].rx, 40);
}

TEST_F(PeerObserverTest, TakesOffAWithheldPeerUnlessChangedSinceTheRead) {
  owned_[alice_].withheld = true;
  owned_[alice_].changed_at = kRead - absl::Seconds(1);
  PeerActions actions = Observe(Device(absl::Seconds(1)));
  ASSERT_THAT(actions.repairs, SizeIs(1));
  EXPECT_EQ(actions.repairs[0].repair, PeerActions::Repair::kRemove);
  EXPECT_THAT(actions.admissions, IsEmpty()) << "withheld: never asked for";

  owned_[alice_].changed_at = kRead + absl::Seconds(1);
  EXPECT_THAT(Observe(Device(absl::Seconds(1))).repairs, IsEmpty());
}

TEST_F(PeerObserverTest, PutsBackAMissingPeerAndEndsItsSession) {
  Live();
  PeerActions actions = Observe(WgDevice());
  ASSERT_THAT(actions.reports, SizeIs(1));
  EXPECT_EQ(actions.reports[0].reason, "peer gone from the interface");
  ASSERT_THAT(actions.repairs, SizeIs(1));
  EXPECT_EQ(actions.repairs[0].repair, PeerActions::Repair::kAdd);
  EXPECT_FALSE(owned_[alice_].present);

  owned_[alice_].withheld = true;
  EXPECT_THAT(Observe(WgDevice()).repairs, IsEmpty()) << "a withheld peer stays off";
}

}  // namespace
}  // namespace warden::agent::wireguard
