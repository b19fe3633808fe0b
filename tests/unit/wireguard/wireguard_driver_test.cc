// The WireGuard driver against a fake interface (a WgBackend kept in memory)
// and a fake agent core: which peers it provisions, which it leaves alone,
// when it asks, opens, closes and withholds. Time is a fake clock; the
// poller is set to an hour, so every poll is the test's PollOnce().

#include "agent/drivers/wireguard/wireguard_driver.h"

#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "agent/core/agent_core.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_clock.h"
#include "tests/support/recording_driver_host.h"
#include "tests/support/wait.h"

namespace warden::agent::wireguard {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;
using warden::testing::FakeClock;
using warden::testing::RecordingDriverHost;
using warden::testing::WaitFor;

// The interface: what wireguard-go would hold. Outlives the drivers that
// control it, so a "restarted agent" finds the same peers.
class FakeInterface {
 public:
  absl::StatusOr<WgDevice> Get() {
    absl::MutexLock lock(&mu_);
    if (!down_.ok()) return down_;
    WgDevice device;
    device.name = "wgunit";
    device.public_key = public_key_;
    device.listen_port = listen_port_;
    for (const auto& [key, peer] : peers_) device.peers.push_back(peer);
    return device;
  }
  absl::Status Set(const WgPeer& peer) {
    absl::MutexLock lock(&mu_);
    if (!down_.ok()) return down_;
    ++sets_;
    auto [it, inserted] = peers_.try_emplace(peer.public_key);
    if (inserted) it->second.public_key = peer.public_key;
    it->second.allowed_ips = peer.allowed_ips;
    return absl::OkStatus();
  }
  absl::Status Remove(const Key& key) {
    absl::MutexLock lock(&mu_);
    if (!down_.ok()) return down_;
    ++removes_;
    peers_.erase(key);
    return absl::OkStatus();
  }

  // What the test does to the interface.
  void PutForeign(const Key& key, const std::string& allowed_ip) {
    absl::MutexLock lock(&mu_);
    WgPeer& peer = peers_[key];
    peer.public_key = key;
    peer.allowed_ips = {allowed_ip};
  }
  void Handshake(const Key& key, absl::Time at, int64_t rx = 0, int64_t tx = 0,
                 const std::string& endpoint = "198.51.100.7:40000") {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(key);
    ASSERT_NE(it, peers_.end()) << "no such peer on the fake interface";
    it->second.last_handshake_unix_sec = absl::ToUnixSeconds(at);
    it->second.last_handshake_nsec = 0;
    it->second.endpoint = endpoint;
    it->second.rx_bytes = rx;
    it->second.tx_bytes = tx;
  }
  void Traffic(const Key& key, int64_t rx, int64_t tx) {
    absl::MutexLock lock(&mu_);
    peers_[key].rx_bytes = rx;
    peers_[key].tx_bytes = tx;
  }
  // The interface's own key (as derived from its private key) and port.
  void SetIdentity(const Key& public_key, int listen_port) {
    absl::MutexLock lock(&mu_);
    public_key_ = public_key;
    listen_port_ = listen_port;
  }
  void Clear() {  // wireguard-go restarted
    absl::MutexLock lock(&mu_);
    peers_.clear();
  }
  void SetDown(absl::Status status) {
    absl::MutexLock lock(&mu_);
    down_ = std::move(status);
  }
  bool Has(const Key& key) {
    absl::MutexLock lock(&mu_);
    return peers_.contains(key);
  }
  std::vector<std::string> AllowedIps(const Key& key) {
    absl::MutexLock lock(&mu_);
    auto it = peers_.find(key);
    return it == peers_.end() ? std::vector<std::string>{} : it->second.allowed_ips;
  }
  int sets() {
    absl::MutexLock lock(&mu_);
    return sets_;
  }
  int removes() {
    absl::MutexLock lock(&mu_);
    return removes_;
  }

 private:
  absl::Mutex mu_;
  std::map<Key, WgPeer> peers_ ABSL_GUARDED_BY(mu_);
  absl::Status down_ ABSL_GUARDED_BY(mu_);
  std::optional<Key> public_key_ ABSL_GUARDED_BY(mu_);
  int listen_port_ ABSL_GUARDED_BY(mu_) = 0;
  int sets_ ABSL_GUARDED_BY(mu_) = 0;
  int removes_ ABSL_GUARDED_BY(mu_) = 0;
};

class FakeBackend final : public WgBackend {
 public:
  explicit FakeBackend(std::shared_ptr<FakeInterface> iface) : iface_(std::move(iface)) {}
  absl::StatusOr<WgDevice> GetDevice() override { return iface_->Get(); }
  absl::Status AddOrUpdatePeer(const WgPeer& peer) override { return iface_->Set(peer); }
  absl::Status RemovePeer(const Key& public_key) override { return iface_->Remove(public_key); }
  std::string kind() const override { return "fake"; }

 private:
  std::shared_ptr<FakeInterface> iface_;
};

Key RandomKey() {
  Key key{};
  randombytes_buf(key.data(), key.size());
  return key;
}

PeerSpec Spec(const Key& key, const std::string& username, const std::string& ip) {
  PeerSpec spec;
  spec.device_id = absl::StrCat("dev-", username);
  spec.public_key = KeyToBase64(key);
  spec.allowed_ips = {ip};
  spec.username = username;
  return spec;
}

class WireGuardDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_GE(sodium_init(), 0);
    iface_ = std::make_shared<FakeInterface>();
    char dir[] = "/tmp/warden-wg-unit.XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    if (driver_) driver_->Stop();
    std::filesystem::remove_all(dir_);
  }

  WireGuardOptions Options() {
    WireGuardOptions options;
    options.iface = "wgunit";
    options.poll_interval = absl::Hours(1);  // the test polls
    options.stale_after = absl::Seconds(180);
    options.usage_interval = absl::Seconds(10);
    options.state_dir = dir_;
    return options;
  }
  std::unique_ptr<WireGuardDriver> MakeDriver() {
    return std::make_unique<WireGuardDriver>(Options(), std::make_unique<FakeBackend>(iface_),
                                             clock_);
  }
  void StartDriver() {
    driver_ = MakeDriver();
    ASSERT_TRUE(driver_->Start(host_).ok());
  }
  // alice as 10.66.0.7, bob as 10.66.0.8.
  void ProvisionAliceAndBob() {
    ASSERT_TRUE(
        driver_
            ->SetPeers({Spec(alice_, "alice", "10.66.0.7/32"), Spec(bob_, "bob", "10.66.0.8/32")})
            .ok());
  }
  // Polls once and waits for the admissions it started to be answered.
  void PollAndSettle(size_t expected_queries) {
    ASSERT_TRUE(driver_->PollOnce().ok());
    ASSERT_TRUE(WaitFor([&] { return host_.queries().size() >= expected_queries; }));
  }
  // Starts the driver with alice's peer, whose first handshake (with these
  // byte counts) opens a session; returns its key.
  std::string OpenAliceSession(int64_t rx, int64_t tx) {
    StartDriver();
    EXPECT_TRUE(driver_->SetPeers({Spec(alice_, "alice", "10.66.0.7/32")}).ok());
    iface_->Handshake(alice_, clock_.Now(), rx, tx);
    PollAndSettle(1);
    const std::string key = SessionKeyFor(alice_);
    EXPECT_TRUE(WaitFor([&] { return host_.HasEvent("opened " + key + " 10.66.0.7"); }));
    return key;
  }
  std::optional<WireGuardDriver::OwnedPeerView> Owned(const Key& key) {
    for (const auto& view : driver_->OwnedPeers()) {
      if (view.spec.public_key == KeyToBase64(key)) return view;
    }
    return std::nullopt;
  }

  FakeClock clock_;
  RecordingDriverHost host_;
  std::shared_ptr<FakeInterface> iface_;
  std::string dir_;
  std::unique_ptr<WireGuardDriver> driver_;
  const Key alice_ = RandomKey();
  const Key bob_ = RandomKey();
};

TEST(WireGuardSpecTest, NeedsTheInterfaceAndKnownOptions) {
  EXPECT_THAT(std::string(ParseWireGuardSpec("poll=1").status().message()), HasSubstr("iface"));
  EXPECT_THAT(std::string(ParseWireGuardSpec("iface=wg0;colour=red").status().message()),
              HasSubstr("unknown option \"colour\""));
  EXPECT_FALSE(ParseWireGuardSpec("iface=wg0;poll=0").ok());
  EXPECT_FALSE(ParseWireGuardSpec("iface=wg0;poll=61").ok());
  EXPECT_FALSE(ParseWireGuardSpec("iface=wg0;poll=1.5").ok());
  EXPECT_FALSE(ParseWireGuardSpec("iface=a/b").ok());
  EXPECT_FALSE(ParseWireGuardSpec("iface=wg0;uapi-dir=relative").ok());

  absl::StatusOr<WireGuardOptions> defaults = ParseWireGuardSpec("iface=wg0");
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->iface, "wg0");
  EXPECT_EQ(defaults->poll_interval, absl::Seconds(1));
  EXPECT_EQ(defaults->stale_after, absl::Seconds(180));

  absl::StatusOr<WireGuardOptions> options =
      ParseWireGuardSpec("iface=wgs1; poll=5; stale=120; usage=30; uapi-dir=/tmp/x");
  ASSERT_TRUE(options.ok()) << options.status();
  EXPECT_EQ(options->poll_interval, absl::Seconds(5));
  EXPECT_EQ(options->stale_after, absl::Seconds(120));
  EXPECT_EQ(options->usage_interval, absl::Seconds(30));
  EXPECT_EQ(options->uapi_dir, "/tmp/x");
  absl::StatusOr<WireGuardOptions> fast = ParseWireGuardSpec("iface=wg0;poll-ms=50");
  ASSERT_TRUE(fast.ok());
  EXPECT_EQ(fast->poll_interval, absl::Milliseconds(50));
}

TEST(WireGuardSpecTest, ReadsTheEndpointUsersDial) {
  absl::StatusOr<WireGuardOptions> named =
      ParseWireGuardSpec("iface=wg0;endpoint=vpn1.example.net:51820");
  ASSERT_TRUE(named.ok()) << named.status();
  EXPECT_EQ(named->endpoint, "vpn1.example.net:51820");
  absl::StatusOr<WireGuardOptions> v6 = ParseWireGuardSpec("iface=wg0;endpoint=[2001:db8::1]:443");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->endpoint, "[2001:db8::1]:443");
  absl::StatusOr<WireGuardOptions> none = ParseWireGuardSpec("iface=wg0");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->endpoint, "");
  for (const char* bad : {"vpn1.example.net", "vpn1.example.net:0", "vpn1.example.net:65536",
                          "vpn 1:51820", "[zz]:51820", ":51820", "-x.net:1", "host:+1"}) {
    absl::StatusOr<WireGuardOptions> refused =
        ParseWireGuardSpec(std::string("iface=wg0;endpoint=") + bad);
    EXPECT_FALSE(refused.ok()) << bad;
    if (!refused.ok()) {
      EXPECT_THAT(std::string(refused.status().message()), HasSubstr("endpoint")) << bad;
    }
  }
}

TEST_F(WireGuardDriverTest, ReportsTheInterfaceKeyPortAndEndpointForTheHello) {
  iface_->SetIdentity(alice_, 51820);
  WireGuardOptions options = Options();
  options.endpoint = "vpn1.example.net:51820";
  driver_ =
      std::make_unique<WireGuardDriver>(options, std::make_unique<FakeBackend>(iface_), clock_);
  ASSERT_TRUE(driver_->Start(host_).ok());
  std::optional<WireGuardIdentity> identity = driver_->Identity();
  ASSERT_TRUE(identity.has_value());
  EXPECT_EQ(identity->iface, "wgunit");
  EXPECT_EQ(identity->public_key, KeyToBase64(alice_));
  EXPECT_EQ(identity->endpoint, "vpn1.example.net:51820");
  EXPECT_EQ(identity->listen_port, 51820);

  // A new key (the interface was set up again) is what the next Hello says.
  iface_->SetIdentity(bob_, 51821);
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_EQ(driver_->Identity()->public_key, KeyToBase64(bob_));
  EXPECT_EQ(driver_->Identity()->listen_port, 51821);
}

TEST(WireGuardSessionKeyTest, RoundTripsPublicKeys) {
  ASSERT_GE(sodium_init(), 0);
  const Key key = RandomKey();
  const std::string session_key = SessionKeyFor(key);
  EXPECT_EQ(session_key, "wg:" + KeyToBase64(key));
  Key back{};
  ASSERT_TRUE(KeyOfSession(session_key, back));
  EXPECT_EQ(back, key);
  EXPECT_FALSE(KeyOfSession("ovpn:udp:1@2", back));
  EXPECT_FALSE(KeyOfSession("wg:not-a-key", back));
}

TEST_F(WireGuardDriverTest, AdmitsOnHandshakeAndReportsOpened) {
  StartDriver();
  PeerSpec spec = Spec(alice_, "alice", "10.66.0.7/32");
  spec.allowed_ips.push_back("fd66::7/128");
  ASSERT_TRUE(driver_->SetPeers({spec}).ok());
  EXPECT_EQ(iface_->AllowedIps(alice_), spec.allowed_ips);
  EXPECT_TRUE(driver_->Carries(SessionKeyFor(alice_)));

  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_THAT(host_.queries(), IsEmpty()) << "no handshake yet";

  clock_.Advance(absl::Seconds(1));
  iface_->Handshake(alice_, clock_.Now(), 148, 92);
  clock_.Advance(absl::Seconds(1));
  PollAndSettle(1);
  const std::string key = SessionKeyFor(alice_);
  ASSERT_TRUE(WaitFor([&] { return host_.HasEvent("opened " + key + " 10.66.0.7"); }))
      << ::testing::PrintToString(host_.events());
  const AdmitQuery query = host_.queries()[0];
  EXPECT_EQ(query.protocol, Protocol::kWireGuard);
  EXPECT_EQ(query.session_key, key);
  EXPECT_EQ(query.username, "alice");
  EXPECT_FALSE(query.password.has_value()) << "the node vouches for a provisioned peer";
  EXPECT_EQ(query.device_label, "dev-alice");
  EXPECT_EQ(query.client_address, "198.51.100.7:40000");

  // Further polls with the same session ask nothing more.
  ASSERT_TRUE(driver_->PollOnce().ok());
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_EQ(host_.queries().size(), 1u);
  std::vector<DriverSession> inventory = driver_->Inventory();
  ASSERT_EQ(inventory.size(), 1u);
  EXPECT_EQ(inventory[0].session_key, key);
  EXPECT_EQ(inventory[0].username, "alice");
  EXPECT_EQ(inventory[0].protocol, Protocol::kWireGuard);
  EXPECT_EQ(inventory[0].client_address, "198.51.100.7:40000");
  EXPECT_EQ(inventory[0].tunnel_address, "10.66.0.7");
}

TEST_F(WireGuardDriverTest, RemovesAndWithholdsARefusedPeer) {
  StartDriver();
  host_.Refuse("bob");
  ProvisionAliceAndBob();
  iface_->Handshake(alice_, clock_.Now());
  iface_->Handshake(bob_, clock_.Now());
  PollAndSettle(2);
  ASSERT_TRUE(WaitFor([&] { return !iface_->Has(bob_); })) << "a refused peer leaves the interface";
  EXPECT_TRUE(iface_->Has(alice_));
  ASSERT_TRUE(
      WaitFor([&] { return host_.HasEvent("opened " + SessionKeyFor(alice_) + " 10.66.0.7"); }));
  ASSERT_TRUE(Owned(bob_).has_value()) << "still owned";
  EXPECT_TRUE(Owned(bob_)->withheld);
  EXPECT_FALSE(host_.HasEvent("opened " + SessionKeyFor(bob_) + " 10.66.0.8"));
  EXPECT_TRUE(driver_->Carries(SessionKeyFor(bob_)));

  // Polls do not put it back, nor ask again.
  ASSERT_TRUE(driver_->PollOnce().ok());
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_FALSE(iface_->Has(bob_));
  EXPECT_EQ(host_.queries().size(), 2u);

  // ADD_PEER (the control plane re-provisions it) puts it back; a new
  // handshake asks again.
  host_.Allow("bob");
  ASSERT_TRUE(driver_->AddPeer(Spec(bob_, "bob", "10.66.0.8/32")).ok());
  EXPECT_TRUE(iface_->Has(bob_));
  EXPECT_FALSE(Owned(bob_)->withheld);
  clock_.Advance(absl::Seconds(2));
  iface_->Handshake(bob_, clock_.Now());
  PollAndSettle(3);
  ASSERT_TRUE(
      WaitFor([&] { return host_.HasEvent("opened " + SessionKeyFor(bob_) + " 10.66.0.8"); }));
}

TEST_F(WireGuardDriverTest, ClosesTheSessionWhenTheHandshakeGoesStale) {
  const std::string key = OpenAliceSession(100, 200);
  ASSERT_FALSE(HasFailure());

  iface_->Traffic(alice_, 5100, 7200);
  clock_.Advance(absl::Seconds(179));
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_EQ(driver_->Inventory().size(), 1u) << "179 s: still within reject-after";
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_TRUE(host_.HasEvent("closed " + key + " idle rx=5100 tx=7200"))
      << ::testing::PrintToString(host_.events());
  EXPECT_THAT(driver_->Inventory(), IsEmpty());
  EXPECT_TRUE(iface_->Has(alice_)) << "an idle peer stays provisioned";

  // A later handshake is a new session, counted from where the last one ended.
  iface_->Handshake(alice_, clock_.Now(), 5150, 7300);
  PollAndSettle(2);
  ASSERT_TRUE(WaitFor([&] { return driver_->Inventory().size() == 1u; }));
  clock_.Advance(absl::Seconds(200));
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_TRUE(host_.HasEvent("closed " + key + " idle rx=50 tx=100"))
      << ::testing::PrintToString(host_.events());
}

TEST_F(WireGuardDriverTest, ReportsUsageAtMostEveryInterval) {
  const std::string key = OpenAliceSession(10, 20);
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(driver_->PollOnce().ok());  // counts the session's bytes from here

  iface_->Traffic(alice_, 1010, 2020);
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_FALSE(host_.HasEvent("usage " + key + " rx=1010 tx=2020")) << "too soon";
  clock_.Advance(absl::Seconds(6));
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_TRUE(host_.HasEvent("usage " + key + " rx=1010 tx=2020"))
      << ::testing::PrintToString(host_.events());
  clock_.Advance(absl::Seconds(11));
  ASSERT_TRUE(driver_->PollOnce().ok());
  int usages = 0;
  for (const std::string& event : host_.events()) usages += event.rfind("usage ", 0) == 0;
  EXPECT_EQ(usages, 1) << "no new bytes, no new report";
}

TEST_F(WireGuardDriverTest, SetPeersNeverTouchesForeignPeers) {
  const Key foreign = RandomKey();
  iface_->PutForeign(foreign, "10.99.0.1/32");
  StartDriver();
  ASSERT_TRUE(driver_->SetPeers({Spec(alice_, "alice", "10.66.0.7/32")}).ok());
  iface_->Handshake(foreign, clock_.Now());
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_THAT(host_.queries(), IsEmpty()) << "a foreign peer's handshake is not a session";
  EXPECT_FALSE(driver_->Carries(SessionKeyFor(foreign)));

  ASSERT_TRUE(driver_->SetPeers({Spec(bob_, "bob", "10.66.0.8/32")}).ok());
  EXPECT_FALSE(iface_->Has(alice_)) << "owned and no longer wanted";
  EXPECT_TRUE(iface_->Has(bob_));
  ASSERT_TRUE(driver_->SetPeers({}).ok());
  EXPECT_FALSE(iface_->Has(bob_));
  EXPECT_TRUE(iface_->Has(foreign));
  EXPECT_THAT(iface_->AllowedIps(foreign), ElementsAre("10.99.0.1/32"));
  EXPECT_TRUE(driver_->RemovePeer(KeyToBase64(foreign)).ok()) << "not ours: nothing to do";
  EXPECT_TRUE(iface_->Has(foreign));
}

TEST_F(WireGuardDriverTest, SetPeersLeavesUnchangedPeersAlone) {
  StartDriver();
  std::vector<PeerSpec> peers = {Spec(alice_, "alice", "10.66.0.7/32"),
                                 Spec(bob_, "bob", "10.66.0.8/32")};
  ASSERT_TRUE(driver_->SetPeers(peers).ok());
  ASSERT_TRUE(driver_->PollOnce().ok());
  const int sets = iface_->sets();
  ASSERT_TRUE(driver_->SetPeers(peers).ok());
  EXPECT_EQ(iface_->sets(), sets) << "a reconnect's full set costs nothing when nothing changed";
  peers[1].allowed_ips = {"10.66.0.9/32"};
  ASSERT_TRUE(driver_->SetPeers(peers).ok());
  EXPECT_EQ(iface_->sets(), sets + 1);
  EXPECT_THAT(iface_->AllowedIps(bob_), ElementsAre("10.66.0.9/32"));
}

TEST_F(WireGuardDriverTest, RefusesInvalidPeersButAppliesTheRest) {
  StartDriver();
  PeerSpec bad_key = Spec(alice_, "alice", "10.66.0.7/32");
  bad_key.public_key = "not base64";
  PeerSpec bad_ip = Spec(bob_, "bob", "10.66.0.300/32");
  const Key carol = RandomKey();
  absl::Status status = driver_->SetPeers({bad_key, bad_ip, Spec(carol, "carol", "10.66.0.10/32")});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("2 peers refused"));
  EXPECT_TRUE(iface_->Has(carol));
  EXPECT_FALSE(iface_->Has(bob_));
  EXPECT_EQ(driver_->AddPeer(bad_ip).code(), absl::StatusCode::kInvalidArgument);
  // An owned peer sent back with a bad field is left as it is, not removed.
  PeerSpec carol_bad = Spec(carol, "carol", "10.66.0.10/33");
  EXPECT_FALSE(driver_->SetPeers({carol_bad}).ok());
  EXPECT_TRUE(iface_->Has(carol));
  EXPECT_THAT(iface_->AllowedIps(carol), ElementsAre("10.66.0.10/32"));
  PeerSpec nobody = Spec(bob_, "", "10.66.0.8/32");
  EXPECT_THAT(std::string(driver_->AddPeer(nobody).message()), HasSubstr("username"));
}

TEST_F(WireGuardDriverTest, OwnedSetSurvivesARestart) {
  const Key foreign = RandomKey();
  iface_->PutForeign(foreign, "10.99.0.1/32");
  StartDriver();
  host_.Refuse("bob");
  ProvisionAliceAndBob();
  iface_->Handshake(bob_, clock_.Now());
  PollAndSettle(1);
  ASSERT_TRUE(WaitFor([&] { return !iface_->Has(bob_); }));
  driver_->Stop();
  driver_.reset();

  const std::string path = dir_ + "/wireguard-wgunit.json";
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  std::stringstream text;
  text << std::ifstream(path).rdbuf();
  EXPECT_THAT(text.str(), HasSubstr(KeyToBase64(alice_)));
  EXPECT_THAT(text.str(), ::testing::Not(HasSubstr(KeyToBase64(foreign))));

  // The next agent knows which peers are its own, and that bob is withheld.
  StartDriver();
  ASSERT_TRUE(Owned(alice_).has_value());
  ASSERT_TRUE(Owned(bob_).has_value());
  EXPECT_FALSE(Owned(alice_)->withheld);
  EXPECT_TRUE(Owned(bob_)->withheld);
  EXPECT_EQ(Owned(alice_)->spec.username, "alice");
  EXPECT_EQ(Owned(alice_)->spec.device_id, "dev-alice");
  EXPECT_FALSE(iface_->Has(bob_));
  ASSERT_TRUE(driver_->SetPeers({}).ok());
  EXPECT_FALSE(iface_->Has(alice_)) << "removed: the restarted agent knew it owned it";
  EXPECT_TRUE(iface_->Has(foreign));
}

TEST_F(WireGuardDriverTest, CorruptStateFileStopsTheStart) {
  std::ofstream(dir_ + "/wireguard-wgunit.json") << "{\"version\": 1, \"peers\": [{]}";
  driver_ = MakeDriver();
  absl::Status started = driver_->Start(host_);
  EXPECT_EQ(started.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(started.message()), HasSubstr("wireguard-wgunit.json"));
}

TEST_F(WireGuardDriverTest, CarriesSessionsAliveAtStartWithoutAsking) {
  {
    StartDriver();
    ASSERT_TRUE(driver_->SetPeers({Spec(alice_, "alice", "10.66.0.7/32")}).ok());
    driver_->Stop();
    driver_.reset();
  }
  iface_->Handshake(alice_, clock_.Now() - absl::Seconds(30), 500, 600);
  StartDriver();
  std::vector<DriverSession> inventory = driver_->Inventory();
  ASSERT_EQ(inventory.size(), 1u) << "the first hello carries it; the reconcile decides";
  EXPECT_EQ(inventory[0].session_key, SessionKeyFor(alice_));
  EXPECT_EQ(inventory[0].username, "alice");
  EXPECT_EQ(inventory[0].rx_bytes, 500);
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_THAT(host_.queries(), IsEmpty());
}

TEST_F(WireGuardDriverTest, KillOfAnUnknownKeyIsSuccess) {
  StartDriver();
  ASSERT_TRUE(driver_->SetPeers({Spec(alice_, "alice", "10.66.0.7/32")}).ok());
  const int removes = iface_->removes();
  EXPECT_TRUE(driver_->Kill(SessionKeyFor(RandomKey()), "admin").ok());
  EXPECT_TRUE(driver_->Kill("ovpn:udp:3@99", "admin").ok());
  EXPECT_TRUE(driver_->Kill("wg:garbage", "admin").ok());
  EXPECT_TRUE(driver_->Kill(SessionKeyFor(alice_), "admin").ok()) << "owned, but no session";
  EXPECT_EQ(iface_->removes(), removes);
  EXPECT_TRUE(iface_->Has(alice_));
  EXPECT_THAT(host_.events(), IsEmpty());
}

TEST_F(WireGuardDriverTest, KillRemovesThePeerAndReportsClosed) {
  const std::string key = OpenAliceSession(10, 20);
  ASSERT_FALSE(HasFailure());
  iface_->Traffic(alice_, 110, 220);
  ASSERT_TRUE(driver_->PollOnce().ok());

  ASSERT_TRUE(driver_->Kill(key, "evicted").ok());
  EXPECT_FALSE(iface_->Has(alice_));
  EXPECT_TRUE(host_.HasEvent("closed " + key + " evicted rx=110 tx=220"))
      << ::testing::PrintToString(host_.events());
  EXPECT_THAT(driver_->Inventory(), IsEmpty());
  EXPECT_TRUE(Owned(alice_)->withheld);
  EXPECT_TRUE(driver_->Kill(key, "evicted").ok()) << "a repeated kill is success";
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_FALSE(iface_->Has(alice_)) << "withheld: not put back by the poller";
}

TEST_F(WireGuardDriverTest, RemovingALivePeerReportsClosed) {
  StartDriver();
  ProvisionAliceAndBob();
  iface_->Handshake(alice_, clock_.Now());
  iface_->Handshake(bob_, clock_.Now());
  PollAndSettle(2);
  ASSERT_TRUE(WaitFor([&] { return driver_->Inventory().size() == 2u; }));
  ASSERT_TRUE(driver_->RemovePeer(KeyToBase64(alice_)).ok());
  EXPECT_TRUE(host_.HasEvent("closed " + SessionKeyFor(alice_) + " device removed rx=0 tx=0"));
  EXPECT_FALSE(iface_->Has(alice_));
  EXPECT_FALSE(driver_->Carries(SessionKeyFor(alice_)));
  EXPECT_TRUE(driver_->RemovePeer(KeyToBase64(alice_)).ok()) << "idempotent";
  ASSERT_TRUE(driver_->SetPeers({}).ok());
  EXPECT_TRUE(host_.HasEvent("closed " + SessionKeyFor(bob_) + " device removed rx=0 tx=0"));
}

TEST_F(WireGuardDriverTest, PutsBackOwnedPeersTheInterfaceLost) {
  StartDriver();
  ASSERT_TRUE(driver_->SetPeers({Spec(alice_, "alice", "10.66.0.7/32")}).ok());
  iface_->Handshake(alice_, clock_.Now());
  PollAndSettle(1);
  ASSERT_TRUE(WaitFor([&] { return driver_->Inventory().size() == 1u; }));

  iface_->Clear();  // wireguard-go restarted
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_TRUE(host_.HasEvent("closed " + SessionKeyFor(alice_) +
                             " peer gone from the interface rx=0 tx=0"));
  EXPECT_TRUE(iface_->Has(alice_));
  EXPECT_THAT(iface_->AllowedIps(alice_), ElementsAre("10.66.0.7/32"));
}

TEST_F(WireGuardDriverTest, KeepsSessionsWhileTheInterfaceCannotBeRead) {
  StartDriver();
  ASSERT_TRUE(driver_->SetPeers({Spec(alice_, "alice", "10.66.0.7/32")}).ok());
  iface_->Handshake(alice_, clock_.Now());
  PollAndSettle(1);
  ASSERT_TRUE(WaitFor([&] { return driver_->Inventory().size() == 1u; }));
  iface_->SetDown(absl::UnavailableError("connection refused"));
  EXPECT_FALSE(driver_->PollOnce().ok());
  EXPECT_EQ(driver_->Inventory().size(), 1u);
  EXPECT_EQ(driver_->AddPeer(Spec(bob_, "bob", "10.66.0.8/32")).code(),
            absl::StatusCode::kUnavailable);
  iface_->SetDown(absl::OkStatus());
  ASSERT_TRUE(driver_->PollOnce().ok());
  EXPECT_TRUE(iface_->Has(bob_)) << "recorded while down, added once the interface answers";
}

TEST_F(WireGuardDriverTest, AdmissionAnsweredAfterAKillClosesAtOnce) {
  StartDriver();
  host_.Hold();
  ASSERT_TRUE(driver_->SetPeers({Spec(alice_, "alice", "10.66.0.7/32")}).ok());
  iface_->Handshake(alice_, clock_.Now());
  PollAndSettle(1);  // the admission now waits in the fake host
  const std::string key = SessionKeyFor(alice_);
  ASSERT_TRUE(driver_->Kill(key, "admin").ok());
  EXPECT_FALSE(iface_->Has(alice_));
  host_.Release();
  ASSERT_TRUE(WaitFor([&] {
    return host_.HasEvent("closed " + key + " peer removed while being admitted rx=0 tx=0");
  })) << ::testing::PrintToString(host_.events());
  EXPECT_FALSE(host_.HasEvent("opened " + key + " 10.66.0.7"));
  EXPECT_THAT(driver_->Inventory(), IsEmpty());
}

TEST_F(WireGuardDriverTest, SetBandwidthIsUnimplemented) {
  StartDriver();
  absl::Status status = driver_->SetBandwidth("alice", 1000);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(status.message()), HasSubstr("cannot shape traffic"));
}

// The agent's core hands the Welcome's peers and the peer commands to the driver.
TEST_F(WireGuardDriverTest, AgentCoreRoutesPeersToTheDriver) {
  StartDriver();
  metrics::Registry metrics;
  AgentCore core(CoreOptions{}, {driver_.get()}, clock_, metrics);

  v1::Welcome welcome;
  v1::WireGuardPeer* peer = welcome.add_wireguard_peers();
  peer->set_device_id("dev-alice");
  peer->set_public_key(KeyToBase64(alice_));
  peer->add_allowed_ips("10.66.0.7/32");
  peer->set_username("alice");
  core.OnWelcome(welcome);
  EXPECT_TRUE(iface_->Has(alice_));

  v1::Command add;
  add.set_id(7);
  add.set_kind(v1::ADD_PEER);
  add.mutable_peer()->set_device_id("dev-bob");
  add.mutable_peer()->set_public_key(KeyToBase64(bob_));
  add.mutable_peer()->add_allowed_ips("10.66.0.8/32");
  add.mutable_peer()->set_username("bob");
  v1::CommandResult added = core.Execute(add);
  EXPECT_TRUE(added.ok()) << added.error();
  EXPECT_EQ(added.command_id(), 7);
  EXPECT_TRUE(iface_->Has(bob_));

  v1::Command remove;
  remove.set_id(8);
  remove.set_kind(v1::REMOVE_PEER);
  remove.mutable_peer()->set_public_key(KeyToBase64(alice_));
  EXPECT_TRUE(core.Execute(remove).ok());
  EXPECT_FALSE(iface_->Has(alice_));

  v1::Command bad = add;
  bad.mutable_peer()->set_public_key("short");
  v1::CommandResult refused = core.Execute(bad);
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.error(), HasSubstr("driver wireguard"));
  const std::string exposed = metrics.Expose();
  EXPECT_THAT(
      exposed,
      HasSubstr("warden_agent_driver_operations_total{operation=\"add_peer\",result=\"ok\"} 1\n"));
  EXPECT_THAT(
      exposed,
      HasSubstr(
          "warden_agent_driver_operations_total{operation=\"add_peer\",result=\"error\"} 1\n"));
  EXPECT_THAT(
      exposed,
      HasSubstr(
          "warden_agent_driver_operations_total{operation=\"remove_peer\",result=\"ok\"} 1\n"));

  // An empty full set on the next attach removes what the driver owns.
  core.OnWelcome(v1::Welcome());
  EXPECT_FALSE(iface_->Has(bob_));
}

}  // namespace
}  // namespace warden::agent::wireguard
