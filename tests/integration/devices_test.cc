// Registered WireGuard devices: the admin API, address allocation, and
// their provisioning to attached agents (Welcome peer set, ADD_PEER /
// REMOVE_PEER, peers withheld after a denial or an eviction), against a real
// PostgreSQL through gRPC (in process).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A distinct, valid WireGuard public key (base64 of 32 bytes) per seed.
std::string Key(int seed) {
  std::string bytes(32, '\0');
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<char>((seed * 31 + i * 7) & 0xff);
  bytes[0] = static_cast<char>(seed & 0xff);
  bytes[1] = static_cast<char>((seed >> 8) & 0xff);
  return absl::Base64Escape(bytes);
}

class DevicesTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
  }

  grpc::Status Register(const std::string& username, const std::string& key, v1::Device* device,
                        const std::string& label = "") {
    v1::RegisterDeviceRequest request;
    request.set_username(username);
    request.set_public_key(key);
    request.set_label(label);
    return fleet_->admin().RegisterDevice(fleet_->AdminContext().get(), request, device);
  }

  v1::Device RegisterOk(const std::string& username, const std::string& key) {
    v1::Device device;
    grpc::Status status = Register(username, key, &device);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return device;
  }

  grpc::Status Revoke(const std::string& id) {
    v1::RevokeDeviceRequest request;
    request.set_id(id);
    v1::RevokeDeviceResponse response;
    return fleet_->admin().RevokeDevice(fleet_->AdminContext().get(), request, &response);
  }

  v1::ListDevicesResponse List(const std::string& user_id, int page_size,
                               const std::string& token = "") {
    v1::ListDevicesRequest request;
    request.set_user_id(user_id);
    request.set_page_size(page_size);
    request.set_page_token(token);
    v1::ListDevicesResponse response;
    grpc::Status status =
        fleet_->admin().ListDevices(fleet_->AdminContext().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  std::unique_ptr<FleetClient> fleet_;
};

TEST_F(DevicesTest, RegistersListsAndRevokesDevices) {
  v1::User alice = fleet_->CreateUser("alice", 2);
  v1::Device phone;
  ASSERT_TRUE(Register("Alice", Key(1), &phone, "alice-phone").ok());
  EXPECT_EQ(phone.user_id(), alice.id());
  EXPECT_EQ(phone.username(), "alice");
  EXPECT_EQ(phone.public_key(), Key(1));
  EXPECT_EQ(phone.label(), "alice-phone");
  EXPECT_EQ(phone.address_v4(), "10.66.0.2");  // .1 is the server side's
  EXPECT_EQ(phone.address_v6(), "");
  EXPECT_GT(phone.created_at().seconds(), 0);

  v1::RegisterDeviceRequest by_id;
  by_id.set_user_id(alice.id());
  by_id.set_public_key(Key(2));
  v1::Device laptop;
  ASSERT_TRUE(fleet_->admin().RegisterDevice(fleet_->AdminContext().get(), by_id, &laptop).ok());
  EXPECT_EQ(laptop.address_v4(), "10.66.0.3");
  fleet_->CreateUser("bob", 0);
  v1::Device bobs = RegisterOk("bob", Key(3));
  EXPECT_EQ(bobs.address_v4(), "10.66.0.4");

  v1::ListDevicesResponse all = List("", 0);
  ASSERT_EQ(all.devices_size(), 3);
  EXPECT_EQ(all.devices(0).id(), phone.id());
  EXPECT_EQ(all.devices(2).id(), bobs.id());
  EXPECT_EQ(all.next_page_token(), "");

  v1::ListDevicesResponse first = List(alice.id(), 1);
  ASSERT_EQ(first.devices_size(), 1);
  EXPECT_EQ(first.devices(0).id(), phone.id());
  ASSERT_NE(first.next_page_token(), "");
  v1::ListDevicesResponse second = List(alice.id(), 1, first.next_page_token());
  ASSERT_EQ(second.devices_size(), 1);
  EXPECT_EQ(second.devices(0).id(), laptop.id());
  EXPECT_EQ(second.next_page_token(), "");

  ASSERT_TRUE(Revoke(phone.id()).ok());
  grpc::Status again = Revoke(phone.id());
  EXPECT_EQ(again.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Revoke("00000000-0000-0000-0000-000000000000").error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::ListDevicesResponse after = List(alice.id(), 0);
  ASSERT_EQ(after.devices_size(), 1);
  EXPECT_EQ(after.devices(0).id(), laptop.id());

  // The revoked device's key and address are free again.
  v1::Device reused = RegisterOk("bob", Key(1));
  EXPECT_EQ(reused.address_v4(), "10.66.0.2");
  EXPECT_EQ(Count("SELECT count(*) FROM audit_events WHERE action = 'device.register'"), 4);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM audit_events WHERE action = 'device.revoke' "
                               "AND subject = 'device:",
                               phone.id(), "' AND actor = 'bootstrap'")),
            1);
}

TEST_F(DevicesTest, RejectsBadKeysDuplicatesAndUnknownUsers) {
  fleet_->CreateUser("carol", 0);
  v1::Device device;
  grpc::Status not_base64 = Register("carol", "not a key!", &device);
  EXPECT_EQ(not_base64.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(not_base64.error_message(), HasSubstr("public_key"));
  grpc::Status short_key = Register("carol", absl::Base64Escape(std::string(31, 'k')), &device);
  EXPECT_EQ(short_key.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(short_key.error_message(), HasSubstr("got 31 bytes"));
  // URL-safe base64 is not what WireGuard prints.
  EXPECT_EQ(
      Register("carol", absl::WebSafeBase64Escape(std::string(32, '\xff')), &device).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  grpc::Status long_label = Register("carol", Key(1), &device, std::string(65, 'x'));
  EXPECT_EQ(long_label.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(long_label.error_message(), HasSubstr("label"));

  grpc::Status unknown = Register("nobody", Key(1), &device);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND);
  v1::RegisterDeviceRequest by_id;
  by_id.set_user_id("00000000-0000-0000-0000-000000000000");
  by_id.set_public_key(Key(1));
  EXPECT_EQ(
      fleet_->admin().RegisterDevice(fleet_->AdminContext().get(), by_id, &device).error_code(),
      grpc::StatusCode::NOT_FOUND);
  v1::RegisterDeviceRequest no_user;
  no_user.set_public_key(Key(1));
  EXPECT_EQ(
      fleet_->admin().RegisterDevice(fleet_->AdminContext().get(), no_user, &device).error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);

  RegisterOk("carol", Key(1));
  fleet_->CreateUser("dave", 0);
  grpc::Status duplicate = Register("dave", Key(1), &device);
  EXPECT_EQ(duplicate.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_THAT(duplicate.error_message(), HasSubstr("public_key"));
  EXPECT_EQ(Count("SELECT count(*) FROM devices"), 1);

  // Writing takes an admin key.
  v1::CreateApiKeyRequest viewer_request;
  viewer_request.set_name("dashboards");
  viewer_request.set_role(v1::VIEWER);
  v1::CreateApiKeyResponse viewer;
  ASSERT_TRUE(
      fleet_->admin().CreateApiKey(fleet_->AdminContext().get(), viewer_request, &viewer).ok());
  v1::RegisterDeviceRequest as_viewer;
  as_viewer.set_username("dave");
  as_viewer.set_public_key(Key(2));
  EXPECT_EQ(fleet_->admin()
                .RegisterDevice(Context(viewer.secret()).get(), as_viewer, &device)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::ListDevicesResponse listed;
  EXPECT_TRUE(fleet_->admin()
                  .ListDevices(Context(viewer.secret()).get(), v1::ListDevicesRequest(), &listed)
                  .ok());
  EXPECT_EQ(listed.devices_size(), 1);
}

TEST_F(DevicesTest, ConcurrentRegistrationsGetDistinctAddresses) {
  fleet_->CreateUser("erin", 0);
  constexpr int kDevices = 50;
  std::vector<std::string> addresses(kDevices);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kDevices; ++i) {
    threads.emplace_back([&, i] {
      v1::Device device;
      grpc::Status status = Register("erin", Key(100 + i), &device);
      if (!status.ok()) {
        ++failures;
        return;
      }
      addresses[i] = device.address_v4();
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::string> distinct(addresses.begin(), addresses.end());
  std::set<std::string> expected;
  for (int host = 2; host < 2 + kDevices; ++host) expected.insert(absl::StrCat("10.66.0.", host));
  EXPECT_EQ(distinct, expected);  // distinct, and the lowest ones
}

TEST_F(DevicesTest, InvalidPoolsAreRefusedAtStart) {
  control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
  config.wg_pool_v4 = "10.66.0.1/16";
  absl::StatusOr<std::unique_ptr<control::ControlPlane>> started =
      control::ControlPlane::Start(config);
  ASSERT_FALSE(started.ok());
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(started.status().message(), HasSubstr("--wg-pool-v4"));
  config.wg_pool_v4 = "10.66.0.0/31";
  EXPECT_FALSE(control::ControlPlane::Start(config).ok());
  config.wg_pool_v4 = "fd66::/64";
  EXPECT_FALSE(control::ControlPlane::Start(config).ok());
  config.wg_pool_v4 = "10.66.0.0/16";
  config.wg_pool_v6 = "fd66::/120";  // 8 host bits for 16 bits of IPv4 hosts
  started = control::ControlPlane::Start(config);
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(started.status().message(), HasSubstr("--wg-pool-v6"));
}

class SmallPoolDevicesTest : public DevicesTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.wg_pool_v4 = "10.9.0.0/29";
    config.wg_pool_v6 = "fd00:9::/64";
  }
};

TEST_F(SmallPoolDevicesTest, ExhaustedPoolIsResourceExhaustedUntilADeviceIsRevoked) {
  fleet_->CreateUser("frank", 0);
  std::vector<v1::Device> devices;
  for (int i = 0; i < 5; ++i) devices.push_back(RegisterOk("frank", Key(i)));
  EXPECT_EQ(devices.front().address_v4(), "10.9.0.2");
  EXPECT_EQ(devices.front().address_v6(), "fd00:9::2");
  EXPECT_EQ(devices.back().address_v4(), "10.9.0.6");  // .7 is the broadcast address
  EXPECT_EQ(devices.back().address_v6(), "fd00:9::6");

  v1::Device device;
  grpc::Status full = Register("frank", Key(5), &device);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(full.error_message(), "the WireGuard address pool 10.9.0.0/29 is exhausted");

  ASSERT_TRUE(Revoke(devices[2].id()).ok());
  v1::Device again = RegisterOk("frank", Key(5));
  EXPECT_EQ(again.address_v4(), "10.9.0.4");
  EXPECT_EQ(again.address_v6(), "fd00:9::4");
}

TEST_F(DevicesTest, WireGuardAgentGetsThePeerSetAndPeerCommands) {
  fleet_->CreateUser("grace", 0);
  v1::Device first = RegisterOk("grace", Key(1));
  TestNode node = fleet_->CreateNode("wg-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"memory", "wireguard"});
  ASSERT_TRUE(agent.welcomed());
  ASSERT_EQ(agent.welcome().wireguard_peers_size(), 1);
  const v1::WireGuardPeer& peer = agent.welcome().wireguard_peers(0);
  EXPECT_EQ(peer.device_id(), first.id());
  EXPECT_EQ(peer.public_key(), Key(1));
  EXPECT_EQ(peer.username(), "grace");
  EXPECT_THAT(peer.allowed_ips(), ElementsAre("10.66.0.2/32"));
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM nodes WHERE id = '", node.node.id(),
                               "' AND drivers = '{memory,wireguard}'")),
            1);

  v1::Device second = RegisterOk("grace", Key(2));
  std::optional<v1::Command> add = agent.WaitForPeerCommand(v1::ADD_PEER, Key(2));
  ASSERT_TRUE(add.has_value());
  EXPECT_EQ(add->peer().device_id(), second.id());
  EXPECT_EQ(add->peer().username(), "grace");
  EXPECT_THAT(add->peer().allowed_ips(), ElementsAre("10.66.0.3/32"));
  agent.Ack(add->id());

  ASSERT_TRUE(Revoke(first.id()).ok());
  std::optional<v1::Command> remove = agent.WaitForPeerCommand(v1::REMOVE_PEER, Key(1));
  ASSERT_TRUE(remove.has_value());
  EXPECT_EQ(remove->peer().device_id(), first.id());
  agent.Ack(remove->id());
  EXPECT_TRUE(WaitFor([&] {
    return Count(
               "SELECT count(*) FROM commands WHERE acked_at IS NULL AND kind IN ('add_peer', "
               "'remove_peer')") == 0;
  }));
}

TEST_F(DevicesTest, AgentWithoutWireGuardGetsNoPeers) {
  fleet_->CreateUser("heidi", 0);
  RegisterOk("heidi", Key(1));
  TestNode node = fleet_->CreateNode("ovpn-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  EXPECT_EQ(agent.welcome().wireguard_peers_size(), 0);
  RegisterOk("heidi", Key(2));
  EXPECT_EQ(Count("SELECT count(*) FROM commands"), 0);
}

TEST_F(DevicesTest, DeniedHandshakeIsWithheldUntilTheUserIsUnderTheLimit) {
  fleet_->CreateUser("ivan", 1, v1::REJECT);
  v1::Device laptop = RegisterOk("ivan", Key(1));
  v1::Device phone = RegisterOk("ivan", Key(2));
  TestNode node = fleet_->CreateNode("wg-1");
  v1::InventorySession live;
  live.set_protocol(v1::WIREGUARD);
  live.set_session_key("wg:" + Key(1));
  {
    FakeAgent agent(fleet_->agent(), node.credential, {"wireguard"});
    ASSERT_EQ(agent.welcome().wireguard_peers_size(), 2);
    v1::AdmitResponse admitted;
    ASSERT_TRUE(fleet_->AdmitAsserted(node, "ivan", "wg:" + Key(1), &admitted, v1::WIREGUARD).ok());
    ASSERT_TRUE(admitted.has_admitted()) << admitted.DebugString();
    live.set_session_id(admitted.admitted().session_id());
    v1::AdmitResponse denied;
    ASSERT_TRUE(fleet_->AdmitAsserted(node, "ivan", "wg:" + Key(2), &denied, v1::WIREGUARD).ok());
    ASSERT_TRUE(denied.has_denied()) << denied.DebugString();
    EXPECT_EQ(denied.denied().reason(), v1::DEVICE_LIMIT_REACHED);
  }
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM wireguard_withheld WHERE device_id = '",
                               phone.id(), "' AND node_id = '", node.node.id(), "'")),
            1);

  // Back after a restart of its agent, the laptop still connected: the
  // withheld peer is left out.
  FakeAgent agent(fleet_->agent(), node.credential, {"wireguard"}, {live});
  ASSERT_TRUE(agent.welcomed());
  EXPECT_EQ(agent.welcome().closed_as_lost(), 0);
  ASSERT_EQ(agent.welcome().wireguard_peers_size(), 1);
  EXPECT_EQ(agent.welcome().wireguard_peers(0).device_id(), laptop.id());

  // The laptop disconnects: the phone may connect again.
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "wg:" + Key(1), &closed).ok());
  std::optional<v1::Command> add = agent.WaitForPeerCommand(v1::ADD_PEER, Key(2));
  ASSERT_TRUE(add.has_value());
  EXPECT_EQ(add->peer().device_id(), phone.id());
  EXPECT_EQ(add->peer().username(), "ivan");
  EXPECT_EQ(Count("SELECT count(*) FROM wireguard_withheld"), 0);
}

TEST_F(DevicesTest, RejectUserAtTheLimitHasItsSpareDevicesTakenOffUntilASeatFrees) {
  fleet_->CreateUser("kate", 2, v1::REJECT);
  RegisterOk("kate", Key(1));
  RegisterOk("kate", Key(2));
  v1::Device tablet = RegisterOk("kate", Key(3));
  TestNode node = fleet_->CreateNode("wg-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"wireguard"});
  ASSERT_EQ(agent.welcome().wireguard_peers_size(), 3);

  v1::AdmitResponse admitted;
  ASSERT_TRUE(fleet_->AdmitAsserted(node, "kate", "wg:" + Key(1), &admitted, v1::WIREGUARD).ok());
  ASSERT_TRUE(admitted.has_admitted());
  EXPECT_EQ(Count("SELECT count(*) FROM wireguard_withheld"), 0) << "one seat is still free";

  // The second seat taken: the tablet, idle, comes off the node before it
  // can make a handshake that would only be refused.
  ASSERT_TRUE(fleet_->AdmitAsserted(node, "kate", "wg:" + Key(2), &admitted, v1::WIREGUARD).ok());
  ASSERT_TRUE(admitted.has_admitted());
  std::optional<v1::Command> removed = agent.WaitForPeerCommand(v1::REMOVE_PEER, Key(3));
  ASSERT_TRUE(removed.has_value());
  EXPECT_EQ(removed->peer().device_id(), tablet.id());
  EXPECT_EQ(Count("SELECT count(*) FROM wireguard_withheld"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM commands WHERE kind = 'remove_peer'"), 1)
      << "the devices in use stay";

  // A seat frees: the tablet is provisioned again.
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "wg:" + Key(1), &closed).ok());
  std::optional<v1::Command> added = agent.WaitForPeerCommand(v1::ADD_PEER, Key(3));
  ASSERT_TRUE(added.has_value());
  EXPECT_EQ(added->peer().device_id(), tablet.id());
  EXPECT_EQ(Count("SELECT count(*) FROM wireguard_withheld"), 0);
}

TEST_F(DevicesTest, EvictedPeerIsWithheldWhileTheNewerOneIsLive) {
  fleet_->CreateUser("judy", 1, v1::EVICT_OLDEST);
  v1::Device laptop = RegisterOk("judy", Key(1));
  RegisterOk("judy", Key(2));
  TestNode node = fleet_->CreateNode("wg-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"wireguard"});
  ASSERT_TRUE(agent.welcomed());
  v1::AdmitResponse first, second;
  ASSERT_TRUE(fleet_->AdmitAsserted(node, "judy", "wg:" + Key(1), &first, v1::WIREGUARD).ok());
  ASSERT_TRUE(fleet_->AdmitAsserted(node, "judy", "wg:" + Key(2), &second, v1::WIREGUARD).ok());
  ASSERT_TRUE(second.has_admitted());
  ASSERT_EQ(second.admitted().evicted_size(), 1);

  // The agent carries out the kill (removing the peer) and reports it gone.
  std::optional<v1::Command> kill = agent.WaitForCommand([&](const v1::Command& command) {
    return command.kind() == v1::KILL_SESSION && command.session_key() == "wg:" + Key(1);
  });
  ASSERT_TRUE(kill.has_value());
  agent.Ack(kill->id());
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "wg:" + Key(1), &closed, "peer removed").ok());
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM wireguard_withheld WHERE device_id = '",
                               laptop.id(), "'")),
            1);

  // Once the newer device is gone, the laptop is provisioned again.
  ASSERT_TRUE(fleet_->Close(node, "wg:" + Key(2), &closed).ok());
  std::optional<v1::Command> add = agent.WaitForPeerCommand(v1::ADD_PEER, Key(1));
  ASSERT_TRUE(add.has_value());
  EXPECT_EQ(add->peer().device_id(), laptop.id());
  EXPECT_EQ(Count("SELECT count(*) FROM wireguard_withheld"), 0);
}

TEST_F(DevicesTest, RevokingKillsTheDevicesSessions) {
  fleet_->CreateUser("mallory", 0);
  v1::Device device = RegisterOk("mallory", Key(1));
  TestNode node = fleet_->CreateNode("wg-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"wireguard"});
  ASSERT_TRUE(agent.welcomed());
  v1::AdmitResponse admitted;
  ASSERT_TRUE(
      fleet_->AdmitAsserted(node, "mallory", "wg:" + Key(1), &admitted, v1::WIREGUARD).ok());
  ASSERT_TRUE(admitted.has_admitted());
  ASSERT_TRUE(Revoke(device.id()).ok());
  std::optional<v1::Command> kill = agent.WaitForCommand([&](const v1::Command& command) {
    return command.kind() == v1::KILL_SESSION &&
           command.session_id() == admitted.admitted().session_id();
  });
  ASSERT_TRUE(kill.has_value());
  EXPECT_EQ(kill->reason(), "device revoked");
  EXPECT_TRUE(agent.WaitForPeerCommand(v1::REMOVE_PEER, Key(1)).has_value());
  EXPECT_EQ(Count("SELECT count(*) FROM sessions WHERE state = 'closing'"), 1);
  // Its close after the kill withholds nothing: the device is gone.
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "wg:" + Key(1), &closed).ok());
  EXPECT_EQ(Count("SELECT count(*) FROM wireguard_withheld"), 0);
}

TEST_F(DevicesTest, DisablingAUserRemovesItsPeersUntilEnabled) {
  v1::User user = fleet_->CreateUser("nina", 0);
  v1::Device device = RegisterOk("nina", Key(1));
  TestNode node = fleet_->CreateNode("wg-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"wireguard"});
  ASSERT_EQ(agent.welcome().wireguard_peers_size(), 1);
  auto set_disabled = [&](bool disabled) {
    v1::UpdateUserRequest update;
    update.mutable_user()->set_id(user.id());
    update.mutable_user()->set_disabled(disabled);
    update.mutable_update_mask()->add_paths("disabled");
    v1::User updated;
    return fleet_->admin().UpdateUser(fleet_->AdminContext().get(), update, &updated);
  };
  ASSERT_TRUE(set_disabled(true).ok());
  std::optional<v1::Command> remove = agent.WaitForPeerCommand(v1::REMOVE_PEER, Key(1));
  ASSERT_TRUE(remove.has_value());
  EXPECT_EQ(remove->peer().device_id(), device.id());
  agent.Ack(remove->id());
  ASSERT_TRUE(set_disabled(false).ok());
  std::optional<v1::Command> add = agent.WaitForPeerCommand(v1::ADD_PEER, Key(1));
  ASSERT_TRUE(add.has_value());
  EXPECT_THAT(add->peer().allowed_ips(), ElementsAre("10.66.0.2/32"));
}

}  // namespace
}  // namespace warden::testing
