// AccountService: end users' own account, devices, sessions and logins with
// their access token, against a real PostgreSQL through gRPC (in process).
// Every call is scoped to the caller: another user's ids are NOT_FOUND.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/wait.h"
#include "warden/v1/account.grpc.pb.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kPassword[] = "correct horse battery";
constexpr char kUnknownId[] = "00000000-0000-4000-8000-0000000000ff";

// A distinct, valid WireGuard public key (base64 of 32 bytes) per seed.
std::string Key(int seed) {
  std::string bytes(32, '\0');
  for (int i = 0; i < 32; ++i) bytes[i] = static_cast<char>((seed * 37 + i * 11) & 0xff);
  bytes[0] = static_cast<char>(seed & 0xff);
  return absl::Base64Escape(bytes);
}

v1::WireGuardInterface Interface(const std::string& key, const std::string& endpoint) {
  v1::WireGuardInterface wg;
  wg.set_interface("wg0");
  wg.set_public_key(key);
  wg.set_endpoint(endpoint);
  wg.set_listen_port(51820);
  return wg;
}

class AccountServiceTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.account_max_devices = 2;
    config.account_rate_per_second = 0;  // AccountServiceRateTest has its own
  }
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
    session_ = v1::SessionService::NewStub(Channel());
    account_ = v1::AccountService::NewStub(Channel());
    alice_ = fleet_->CreateUser("alice", 3, v1::EVICT_OLDEST, 0, kPassword);
    bob_ = fleet_->CreateUser("bob", 3, v1::EVICT_OLDEST, 0, kPassword);
  }

  v1::LoginResponse LoginOk(const std::string& username, const std::string& label = "laptop") {
    v1::LoginRequest request;
    request.set_username(username);
    request.set_password(kPassword);
    request.set_device_label(label);
    v1::LoginResponse response;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    grpc::Status status = session_->Login(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // A context with `authorization: <header>` ("" = no header).
  static std::unique_ptr<grpc::ClientContext> Raw(const std::string& header) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    if (!header.empty()) context->AddMetadata("authorization", header);
    return context;
  }
  static std::unique_ptr<grpc::ClientContext> As(const v1::LoginResponse& login) {
    return Raw(absl::StrCat("Bearer ", login.access_token()));
  }

  grpc::Status Register(const v1::LoginResponse& login, const std::string& key,
                        const std::string& label, v1::MyDeviceConfig* config) {
    v1::RegisterMyDeviceRequest request;
    request.set_public_key(key);
    request.set_label(label);
    return account_->RegisterMyDevice(As(login).get(), request, config);
  }
  v1::MyDeviceConfig RegisterOk(const v1::LoginResponse& login, const std::string& key,
                                const std::string& label) {
    v1::MyDeviceConfig config;
    grpc::Status status = Register(login, key, label, &config);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return config;
  }
  v1::ListMySessionsResponse Sessions(const v1::LoginResponse& login, bool include_ended) {
    v1::ListMySessionsRequest request;
    request.set_include_ended(include_ended);
    v1::ListMySessionsResponse response;
    grpc::Status status = account_->ListMySessions(As(login).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  v1::LastDisconnect LastDisconnect(const v1::LoginResponse& login) {
    v1::LastDisconnect response;
    grpc::Status status =
        account_->GetMyLastDisconnect(As(login).get(), v1::GetMyLastDisconnectRequest(), &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  void DisableUser(const v1::User& user, bool disabled) {
    v1::UpdateUserRequest request;
    request.mutable_user()->set_id(user.id());
    request.mutable_user()->set_disabled(disabled);
    request.mutable_update_mask()->add_paths("disabled");
    v1::User updated;
    grpc::Status status =
        fleet_->admin().UpdateUser(fleet_->AdminContext().get(), request, &updated);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  std::unique_ptr<FleetClient> fleet_;
  std::unique_ptr<v1::SessionService::Stub> session_;
  std::unique_ptr<v1::AccountService::Stub> account_;
  v1::User alice_;
  v1::User bob_;
};

TEST_F(AccountServiceTest, GetMeShowsLimitsLiveSessionsQuotaAndExpiry) {
  ExecSql(
      absl::StrCat("UPDATE users SET data_quota_bytes = 1000000000, expires_at = "
                   "'2031-01-01T00:00:00Z' WHERE id = '",
                   alice_.id(), "'"));
  TestNode node = fleet_->CreateNode("vpn1");
  fleet_->AdmitAssertedOk(node, "alice", "ovpn:a:1");
  const v1::LoginResponse login = LoginOk("alice");
  v1::Me me;
  grpc::Status status = account_->GetMe(As(login).get(), v1::GetMeRequest(), &me);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(me.user_id(), alice_.id());
  EXPECT_EQ(me.username(), "alice");
  EXPECT_FALSE(me.disabled());
  EXPECT_EQ(me.effective().max_connections(), 3);
  EXPECT_EQ(me.effective().data_quota_bytes(), 1000000000);
  EXPECT_EQ(me.live_sessions(), 1);
  EXPECT_EQ(me.quota().quota_bytes(), 1000000000);
  EXPECT_EQ(me.quota().used_bytes(), 0);
  EXPECT_EQ(me.expires_at().seconds(), 1924992000);
  EXPECT_EQ(me.devices(), 0);
  EXPECT_EQ(me.max_devices(), 2);

  // Without a quota there is no quota status.
  const v1::LoginResponse bobs = LoginOk("bob");
  v1::Me bob;
  ASSERT_TRUE(account_->GetMe(As(bobs).get(), v1::GetMeRequest(), &bob).ok());
  EXPECT_EQ(bob.username(), "bob");
  EXPECT_FALSE(bob.has_quota());
  EXPECT_FALSE(bob.has_expires_at());
  EXPECT_EQ(bob.live_sessions(), 0);
}

TEST_F(AccountServiceTest, RegistersRenamesListsAndRevokesOwnDevicesWithTheirPeerConfig) {
  TestNode vpn1 = fleet_->CreateNode("vpn1");
  TestNode vpn2 = fleet_->CreateNode("vpn2");
  TestNode drained = fleet_->CreateNode("vpn3");
  TestNode keyless = fleet_->CreateNode("vpn4");
  FakeAgent agent1(fleet_->agent(), vpn1.credential, {"wireguard"}, {},
                   {Interface(Key(101), "vpn1.example.net:51820")});
  FakeAgent agent2(fleet_->agent(), vpn2.credential, {"wireguard"}, {},
                   {Interface(Key(102), "[2001:db8::2]:51820")});
  FakeAgent agent3(fleet_->agent(), drained.credential, {"wireguard"}, {},
                   {Interface(Key(103), "vpn3.example.net:51820")});
  FakeAgent agent4(fleet_->agent(), keyless.credential, {"wireguard"}, {},
                   {Interface("", "vpn4.example.net:51820")});
  ASSERT_TRUE(agent1.welcomed() && agent2.welcomed() && agent3.welcomed() && agent4.welcomed());
  fleet_->SetNodeStateForTest(db_->url(), drained.node.id(), "draining");

  const v1::LoginResponse login = LoginOk("alice");
  v1::MyDeviceConfig phone = RegisterOk(login, Key(1), "alice-phone");
  EXPECT_EQ(phone.device().user_id(), alice_.id());
  EXPECT_EQ(phone.device().label(), "alice-phone");
  EXPECT_EQ(phone.device().address_v4(), "10.66.0.2");
  // Active WireGuard nodes that reported a key and an endpoint.
  ASSERT_EQ(phone.peers_size(), 2);
  EXPECT_EQ(phone.peers(0).node_name(), "vpn1");
  EXPECT_EQ(phone.peers(0).public_key(), Key(101));
  EXPECT_EQ(phone.peers(0).endpoint(), "vpn1.example.net:51820");
  EXPECT_THAT(phone.peers(0).allowed_ips(), UnorderedElementsAre("0.0.0.0/0", "::/0"));
  EXPECT_EQ(phone.peers(1).node_name(), "vpn2");
  EXPECT_EQ(phone.peers(1).endpoint(), "[2001:db8::2]:51820");
  ASSERT_EQ(phone.wg_quick_size(), 2);
  EXPECT_THAT(phone.wg_quick().at("vpn1"), HasSubstr("Address = 10.66.0.2/32\n"));
  EXPECT_THAT(phone.wg_quick().at("vpn1"), HasSubstr(absl::StrCat("PublicKey = ", Key(101))));
  EXPECT_THAT(phone.wg_quick().at("vpn1"), HasSubstr("Endpoint = vpn1.example.net:51820"));
  // The nodes were told of the new peer, as for an administrator's device.
  EXPECT_TRUE(agent1.WaitForPeerCommand(v1::ADD_PEER, Key(1)).has_value());

  // A node selector the user's policy sets leaves vpn2 out.
  ExecSql(absl::StrCat("UPDATE nodes SET labels = '{\"region\": \"eu\"}' WHERE name = 'vpn1'"));
  ExecSql(absl::StrCat("UPDATE users SET node_selector = '{\"region\": [\"eu\"]}' WHERE id = '",
                       alice_.id(), "'"));
  v1::GetMyDeviceConfigRequest get;
  get.set_id(phone.device().id());
  v1::MyDeviceConfig again;
  ASSERT_TRUE(account_->GetMyDeviceConfig(As(login).get(), get, &again).ok());
  ASSERT_EQ(again.peers_size(), 1);
  EXPECT_EQ(again.peers(0).node_name(), "vpn1");

  v1::MyDeviceConfig laptop = RegisterOk(login, Key(2), "alice-laptop");
  v1::RenameMyDeviceRequest rename;
  rename.set_id(laptop.device().id());
  rename.set_label("work laptop");
  v1::Device renamed;
  ASSERT_TRUE(account_->RenameMyDevice(As(login).get(), rename, &renamed).ok());
  EXPECT_EQ(renamed.label(), "work laptop");

  v1::ListMyDevicesResponse listed;
  ASSERT_TRUE(account_->ListMyDevices(As(login).get(), v1::ListMyDevicesRequest(), &listed).ok());
  ASSERT_EQ(listed.devices_size(), 2);
  EXPECT_EQ(listed.devices(0).id(), phone.device().id());
  EXPECT_EQ(listed.devices(1).label(), "work laptop");

  v1::RevokeMyDeviceRequest revoke;
  revoke.set_id(phone.device().id());
  v1::RevokeMyDeviceResponse revoked;
  ASSERT_TRUE(account_->RevokeMyDevice(As(login).get(), revoke, &revoked).ok());
  EXPECT_TRUE(agent1.WaitForPeerCommand(v1::REMOVE_PEER, Key(1)).has_value());
  EXPECT_EQ(account_->RevokeMyDevice(As(login).get(), revoke, &revoked).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(account_->ListMyDevices(As(login).get(), v1::ListMyDevicesRequest(), &listed).ok());
  EXPECT_EQ(listed.devices_size(), 1);

  // Every write is the user's own in the audit log.
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE actor = 'user:alice' AND action IN "
                     "('device.register', 'device.rename', 'device.revoke')"),
            4);
}

TEST_F(AccountServiceTest, RefusesADeviceBeyondTheCapUntilOneIsRevoked) {
  const v1::LoginResponse login = LoginOk("alice");
  RegisterOk(login, Key(1), "one");
  v1::MyDeviceConfig second = RegisterOk(login, Key(2), "two");
  v1::MyDeviceConfig third;
  grpc::Status refused = Register(login, Key(3), "three", &third);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(), HasSubstr("revoke one first"));
  // A key someone else registered is refused for what it is.
  const v1::LoginResponse bob = LoginOk("bob");
  EXPECT_EQ(Register(bob, Key(1), "copy", &third).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  // Malformed keys and labels name the field.
  grpc::Status bad = Register(bob, "not-a-key", "x", &third);
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("public_key"));

  v1::RevokeMyDeviceRequest revoke;
  revoke.set_id(second.device().id());
  v1::RevokeMyDeviceResponse revoked;
  ASSERT_TRUE(account_->RevokeMyDevice(As(login).get(), revoke, &revoked).ok());
  EXPECT_TRUE(Register(login, Key(3), "three", &third).ok());
}

TEST_F(AccountServiceTest, EndMySessionReachesTheAgentAndEndsItAsEndedByUser) {
  TestNode node = fleet_->CreateNode("vpn1");
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  v1::AdmitResponse admitted = fleet_->AdmitAssertedOk(node, "alice", "ovpn:a:1");
  ASSERT_TRUE(admitted.has_admitted());
  const v1::LoginResponse login = LoginOk("alice");
  v1::ListMySessionsResponse live = Sessions(login, false);
  ASSERT_EQ(live.sessions_size(), 1);
  EXPECT_EQ(live.sessions(0).id(), admitted.admitted().session_id());
  EXPECT_EQ(live.sessions(0).node_name(), "vpn1");
  EXPECT_EQ(live.sessions(0).protocol(), v1::OPENVPN);
  EXPECT_EQ(live.sessions(0).state(), v1::SESSION_STATE_ACTIVE);
  EXPECT_GT(live.sessions(0).opened_at().seconds(), 0);

  // The agent answers the kill it is sent; the call returns its answer.
  std::thread acker([&] {
    std::optional<v1::Command> kill = agent.WaitForCommand([&](const v1::Command& command) -> bool {
      return command.kind() == v1::KILL_SESSION &&
             command.session_id() == admitted.admitted().session_id();
    });
    if (kill) agent.Ack(kill->id());
  });
  v1::EndMySessionRequest end;
  end.set_id(admitted.admitted().session_id());
  v1::EndMySessionResponse ended;
  grpc::Status status = account_->EndMySession(As(login).get(), end, &ended);
  acker.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(ended.acknowledged());
  EXPECT_EQ(QueryInt(absl::StrCat("SELECT count(*) FROM sessions WHERE id = '",
                                  admitted.admitted().session_id(),
                                  "' AND end_reason = 'ended_by_user'")),
            1);
  EXPECT_EQ(QueryInt(absl::StrCat("SELECT count(*) FROM audit_events WHERE actor = 'user:alice' "
                                  "AND action = 'session.kill' AND subject = 'session:",
                                  admitted.admitted().session_id(), "'")),
            1);

  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "ovpn:a:1", &closed).ok());
  EXPECT_EQ(Sessions(login, false).sessions_size(), 0);
  v1::ListMySessionsResponse recent = Sessions(login, true);
  ASSERT_EQ(recent.sessions_size(), 1);
  EXPECT_EQ(recent.sessions(0).end_reason(), "ended_by_user");
  EXPECT_EQ(recent.sessions(0).state(), v1::SESSION_STATE_CLOSED);
  v1::LastDisconnect last = LastDisconnect(login);
  EXPECT_TRUE(last.found());
  EXPECT_EQ(last.end_reason(), "ended_by_user");
  EXPECT_TRUE(last.has_ended_at());

  // Ending it again: it has ended.
  EXPECT_EQ(account_->EndMySession(As(login).get(), end, &ended).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(AccountServiceTest, GetMyLastDisconnectTellsAnAdministratorsKillAndItsSentence) {
  const v1::LoginResponse login = LoginOk("alice");
  EXPECT_FALSE(LastDisconnect(login).found());
  TestNode node = fleet_->CreateNode("vpn-fra-1");
  v1::AdmitResponse admitted = fleet_->AdmitAssertedOk(node, "alice", "ovpn:a:9");
  v1::KillSessionRequest kill;
  kill.set_session_id(admitted.admitted().session_id());
  kill.set_reason("abuse report 7");
  v1::KillSessionResponse killed;
  ASSERT_TRUE(fleet_->admin().KillSession(fleet_->AdminContext().get(), kill, &killed).ok());
  v1::LastDisconnect last = LastDisconnect(login);
  EXPECT_TRUE(last.found());
  EXPECT_EQ(last.session_id(), admitted.admitted().session_id());
  EXPECT_EQ(last.end_reason(), "killed_by_admin");
  EXPECT_EQ(last.close_reason(), "abuse report 7");
  EXPECT_EQ(last.node_name(), "vpn-fra-1");
  // Bob's own answer knows nothing of it.
  EXPECT_FALSE(LastDisconnect(LoginOk("bob")).found());
}

TEST_F(AccountServiceTest, ListsLoginsMarksTheCurrentOneAndEndsAnother) {
  const v1::LoginResponse laptop = LoginOk("alice", "laptop");
  const v1::LoginResponse phone = LoginOk("alice", "phone");
  LoginOk("bob");
  v1::ListMyLoginsResponse logins;
  ASSERT_TRUE(account_->ListMyLogins(As(laptop).get(), v1::ListMyLoginsRequest(), &logins).ok());
  ASSERT_EQ(logins.logins_size(), 2);
  for (const v1::MyLogin& login : logins.logins()) {
    EXPECT_EQ(login.current(), login.id() == laptop.family_id()) << login.id();
    EXPECT_EQ(login.device_label(), login.id() == laptop.family_id() ? "laptop" : "phone");
    EXPECT_GT(login.expires_at().seconds(), login.created_at().seconds());
  }
  v1::EndMyLoginRequest end;
  end.set_id(phone.family_id());
  end.set_kill_tunnels(true);
  v1::EndMyLoginResponse ended;
  ASSERT_TRUE(account_->EndMyLogin(As(laptop).get(), end, &ended).ok());
  // The phone's token stopped working; the laptop's did not.
  v1::Me me;
  EXPECT_EQ(account_->GetMe(As(phone).get(), v1::GetMeRequest(), &me).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(account_->ListMyLogins(As(laptop).get(), v1::ListMyLoginsRequest(), &logins).ok());
  ASSERT_EQ(logins.logins_size(), 1);
  EXPECT_EQ(logins.logins(0).id(), laptop.family_id());
  EXPECT_EQ(QueryInt(absl::StrCat("SELECT count(*) FROM audit_events WHERE actor = 'user:alice' "
                                  "AND action = 'family.logout' AND subject = 'family:",
                                  phone.family_id(), "'")),
            1);
}

// Bob names alice's objects in every call that takes an id: each is as
// unknown to him as an id that never existed, and alice's stay as they were.
TEST_F(AccountServiceTest, AnotherUsersIdsAreNotFoundAndLeaveTheirObjectsUntouched) {
  TestNode node = fleet_->CreateNode("vpn1");
  const v1::LoginResponse alice = LoginOk("alice");
  const v1::LoginResponse bob = LoginOk("bob");
  const std::string device = RegisterOk(alice, Key(1), "alice-phone").device().id();
  const std::string session =
      fleet_->AdmitAssertedOk(node, "alice", "ovpn:a:1").admitted().session_id();
  const std::string family = alice.family_id();

  // The message for `id`, with the id itself taken out.
  auto message_of = [](const grpc::Status& status, const std::string& id) {
    return absl::StrReplaceAll(status.error_message(), {{id, "<id>"}});
  };
  auto expect_hidden = [&](const char* what, const std::function<grpc::Status(std::string)>& call,
                           const std::string& theirs) {
    grpc::Status foreign = call(theirs);
    grpc::Status unknown = call(kUnknownId);
    EXPECT_EQ(foreign.error_code(), grpc::StatusCode::NOT_FOUND) << what;
    EXPECT_EQ(unknown.error_code(), grpc::StatusCode::NOT_FOUND) << what;
    EXPECT_EQ(message_of(foreign, theirs), message_of(unknown, kUnknownId)) << what;
  };
  expect_hidden(
      "GetMyDeviceConfig",
      [&](std::string id) {
        v1::GetMyDeviceConfigRequest request;
        request.set_id(id);
        v1::MyDeviceConfig response;
        return account_->GetMyDeviceConfig(As(bob).get(), request, &response);
      },
      device);
  expect_hidden(
      "RenameMyDevice",
      [&](std::string id) {
        v1::RenameMyDeviceRequest request;
        request.set_id(id);
        request.set_label("mine now");
        v1::Device response;
        return account_->RenameMyDevice(As(bob).get(), request, &response);
      },
      device);
  expect_hidden(
      "RevokeMyDevice",
      [&](std::string id) {
        v1::RevokeMyDeviceRequest request;
        request.set_id(id);
        v1::RevokeMyDeviceResponse response;
        return account_->RevokeMyDevice(As(bob).get(), request, &response);
      },
      device);
  expect_hidden(
      "EndMySession",
      [&](std::string id) {
        v1::EndMySessionRequest request;
        request.set_id(id);
        v1::EndMySessionResponse response;
        return account_->EndMySession(As(bob).get(), request, &response);
      },
      session);
  expect_hidden(
      "EndMyLogin",
      [&](std::string id) {
        v1::EndMyLoginRequest request;
        request.set_id(id);
        request.set_kill_tunnels(true);
        v1::EndMyLoginResponse response;
        return account_->EndMyLogin(As(bob).get(), request, &response);
      },
      family);

  // Bob's lists hold none of alice's.
  v1::ListMyDevicesResponse devices;
  ASSERT_TRUE(account_->ListMyDevices(As(bob).get(), v1::ListMyDevicesRequest(), &devices).ok());
  EXPECT_EQ(devices.devices_size(), 0);
  EXPECT_EQ(Sessions(bob, true).sessions_size(), 0);
  v1::ListMyLoginsResponse logins;
  ASSERT_TRUE(account_->ListMyLogins(As(bob).get(), v1::ListMyLoginsRequest(), &logins).ok());
  ASSERT_EQ(logins.logins_size(), 1);
  EXPECT_EQ(logins.logins(0).id(), bob.family_id());

  // Alice's device, session and login are as they were.
  v1::ListMyDevicesResponse hers;
  ASSERT_TRUE(account_->ListMyDevices(As(alice).get(), v1::ListMyDevicesRequest(), &hers).ok());
  ASSERT_EQ(hers.devices_size(), 1);
  EXPECT_EQ(hers.devices(0).label(), "alice-phone");
  v1::ListMySessionsResponse live = Sessions(alice, false);
  ASSERT_EQ(live.sessions_size(), 1);
  EXPECT_EQ(live.sessions(0).state(), v1::SESSION_STATE_ACTIVE);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM commands WHERE kind = 'kill_session'"), 0);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE actor = 'user:bob'"), 0);
}

TEST_F(AccountServiceTest, TokensMustBePresentWellFormedAndLive) {
  v1::Me me;
  grpc::Status missing = account_->GetMe(Raw("").get(), v1::GetMeRequest(), &me);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(missing.error_message(), HasSubstr("authorization: Bearer"));
  for (const char* malformed : {"Bearer wat_123", "Bearer wrt_" /* wrong kind */, "Basic abc"}) {
    grpc::Status status = account_->GetMe(Raw(malformed).get(), v1::GetMeRequest(), &me);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << malformed;
  }
  const std::string unknown = absl::StrCat("Bearer wat_", std::string(64, 'a'));
  grpc::Status never = account_->GetMe(Raw(unknown).get(), v1::GetMeRequest(), &me);
  EXPECT_EQ(never.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // A token of a login that ended answers exactly as one that never existed.
  const v1::LoginResponse login = LoginOk("alice");
  ASSERT_TRUE(account_->GetMe(As(login).get(), v1::GetMeRequest(), &me).ok());
  v1::LogoutRequest logout;
  logout.set_access_token(login.access_token());
  v1::LogoutResponse out;
  grpc::ClientContext context;
  ASSERT_TRUE(session_->Logout(&context, logout, &out).ok());
  grpc::Status ended = account_->GetMe(As(login).get(), v1::GetMeRequest(), &me);
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ended.error_message(), never.error_message());
}

TEST_F(AccountServiceTest, ADisabledUserMayReadAndEndButNotChange) {
  TestNode node = fleet_->CreateNode("vpn1");
  const v1::LoginResponse login = LoginOk("alice");
  const std::string device = RegisterOk(login, Key(1), "alice-phone").device().id();
  DisableUser(alice_, true);

  v1::Me me;
  ASSERT_TRUE(account_->GetMe(As(login).get(), v1::GetMeRequest(), &me).ok());
  EXPECT_TRUE(me.disabled());
  EXPECT_EQ(LastDisconnect(login).found(), false);
  v1::MyDeviceConfig config;
  grpc::Status registered = Register(login, Key(2), "another", &config);
  EXPECT_EQ(registered.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(registered.error_message(), HasSubstr("disabled"));
  v1::RenameMyDeviceRequest rename;
  rename.set_id(device);
  rename.set_label("renamed");
  v1::Device renamed;
  EXPECT_EQ(account_->RenameMyDevice(As(login).get(), rename, &renamed).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::RevokeMyDeviceRequest revoke;
  revoke.set_id(device);
  v1::RevokeMyDeviceResponse revoked;
  EXPECT_TRUE(account_->RevokeMyDevice(As(login).get(), revoke, &revoked).ok());
  v1::EndMyLoginRequest end;
  end.set_id(login.family_id());
  v1::EndMyLoginResponse ended;
  EXPECT_TRUE(account_->EndMyLogin(As(login).get(), end, &ended).ok());
}

class AccountServiceRateTest : public AccountServiceTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.account_rate_per_second = 1;
    config.account_burst = 3;
  }
};

TEST_F(AccountServiceRateTest, RefusesCallsBeyondTheBurstWithRetryAfter) {
  const v1::LoginResponse alice = LoginOk("alice");
  v1::Me me;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(account_->GetMe(As(alice).get(), v1::GetMeRequest(), &me).ok()) << i;
  }
  auto context = As(alice);
  grpc::Status refused = account_->GetMe(context.get(), v1::GetMeRequest(), &me);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("retry after 1 second"));
  auto retry = context->GetServerTrailingMetadata().find("retry-after");
  ASSERT_NE(retry, context->GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(retry->second.data(), retry->second.size()), "1");
  // Another user's budget is untouched.
  EXPECT_TRUE(account_->GetMe(As(LoginOk("bob")).get(), v1::GetMeRequest(), &me).ok());
  EXPECT_GE(Metric("warden_account_calls_throttled_total"), 1);
}

}  // namespace
}  // namespace warden::testing
