// The agent's core between a fake control plane (a ControlClient that
// answers what the test tells it) and a fake driver: admission through the
// control plane, the fail modes when it cannot answer, and the commands it
// carries out. No network, no sleep; time is a fake clock.

#include "agent/core/agent_core.h"

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/core/control_client.h"
#include "agent/core/driver.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fake_clock.h"

namespace warden::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using warden::testing::FakeClock;

// Answers each Admit with the next queued answer (or admits), and keeps
// every request and event.
class FakeControlClient final : public ControlClient {
 public:
  absl::StatusOr<v1::AdmitResponse> Admit(const v1::AdmitRequest& request,
                                          absl::Duration timeout) override {
    requests.push_back(request);
    timeouts.push_back(timeout);
    if (while_asked) while_asked();
    if (answers.empty()) return Admitted("session-1", "user-1", request);
    absl::StatusOr<v1::AdmitResponse> answer = answers.front();
    answers.pop_front();
    return answer;
  }
  void SendEvent(v1::SessionEvent event) override { events.push_back(std::move(event)); }

  static v1::AdmitResponse Admitted(const std::string& session_id, const std::string& user_id,
                                    const v1::AdmitRequest& request) {
    v1::AdmitResponse response;
    response.mutable_admitted()->set_session_id(session_id);
    response.mutable_admitted()->set_user_id(user_id);
    response.mutable_admitted()->set_username(request.has_password()
                                                  ? request.password().username()
                                                  : request.asserted_user().username());
    return response;
  }

  std::deque<absl::StatusOr<v1::AdmitResponse>> answers;
  // Runs inside each Admit, before it answers.
  std::function<void()> while_asked;
  std::vector<v1::AdmitRequest> requests;
  std::vector<absl::Duration> timeouts;  // the budget each request was asked with
  std::vector<v1::SessionEvent> events;
};

// Carries the sessions the test opens on it; records what it is told.
class FakeDriver final : public Driver {
 public:
  explicit FakeDriver(std::string name, bool carries_peers = false)
      : name_(std::move(name)), carries_peers_(carries_peers) {}

  std::string name() const override { return name_; }
  absl::Status Start(DriverHost&) override { return absl::OkStatus(); }
  void Stop() override {}
  std::vector<DriverSession> Inventory() override {
    std::vector<DriverSession> out;
    for (const auto& [key, username] : sessions) {
      DriverSession& session = out.emplace_back();
      session.session_key = key;
      session.username = username;
    }
    return out;
  }
  absl::Status Kill(const std::string& session_key, const std::string& reason) override {
    kills.push_back(session_key + " " + reason);
    sessions.erase(session_key);
    return absl::OkStatus();
  }
  absl::Status SetBandwidth(const std::string& username, int64_t bytes_per_second) override {
    limits[username] = bytes_per_second;
    return absl::OkStatus();
  }
  bool Carries(const std::string& session_key) override { return sessions.contains(session_key); }
  bool CarriesPeers() const override { return carries_peers_; }
  std::optional<WireGuardIdentity> Identity() override { return identity; }
  absl::Status AddPeer(const PeerSpec& peer) override {
    peers.insert(peer.public_key);
    return absl::OkStatus();
  }
  absl::Status RemovePeer(const std::string& public_key) override {
    peers.erase(public_key);
    return absl::OkStatus();
  }

  std::map<std::string, std::string> sessions;  // key -> username
  std::vector<std::string> kills;
  std::map<std::string, int64_t> limits;
  std::set<std::string> peers;
  std::optional<WireGuardIdentity> identity;

 private:
  const std::string name_;
  const bool carries_peers_;
};

AdmitQuery Query(Protocol protocol, const std::string& key, const std::string& username) {
  AdmitQuery query;
  query.protocol = protocol;
  query.session_key = key;
  query.username = username;
  return query;
}

AdmitQuery PasswordLogin(const std::string& key, const std::string& username,
                         const std::string& password) {
  AdmitQuery query = Query(Protocol::kOpenVpn, key, username);
  query.password = password;
  return query;
}

AdmitQuery TicketLogin(const std::string& key, const std::string& username) {
  AdmitQuery query = Query(Protocol::kQuic, key, username);
  query.connect_ticket = std::string("wct_") + std::string(64, 'a');
  return query;
}

v1::Command KillCommand(int64_t id, const std::string& session_id, const std::string& key) {
  v1::Command command;
  command.set_id(id);
  command.set_kind(v1::KILL_SESSION);
  command.set_session_id(session_id);
  command.set_session_key(key);
  command.set_reason("evicted");
  return command;
}

class AgentCoreTest : public ::testing::Test {
 protected:
  // A core (and a registry for its metrics) with `drivers`.
  void MakeCore(FailMode mode, std::vector<Driver*> drivers) {
    core_.reset();
    metrics_ = std::make_unique<metrics::Registry>();
    core_ = std::make_unique<AgentCore>(CoreOptions{.fail_mode = mode,
                                                    .fail_open_window = absl::Minutes(15),
                                                    .admit_timeout = admit_timeout_},
                                        std::move(drivers), clock_, *metrics_);
    core_->SetControlClient(&client_);
  }
  void MakeCore(FailMode mode) { MakeCore(mode, {&driver_, &peers_}); }
  void SetUp() override { MakeCore(FailMode::kClosed); }

  // The control plane answers the next Admit with `status`.
  void Unreachable(absl::StatusCode code = absl::StatusCode::kUnavailable) {
    client_.answers.push_back(absl::Status(code, "control plane away"));
  }

  absl::Duration admit_timeout_ = absl::Seconds(5);
  FakeClock clock_;
  std::unique_ptr<metrics::Registry> metrics_;
  FakeControlClient client_;
  FakeDriver driver_{"fake"};
  FakeDriver peers_{"peers", /*carries_peers=*/true};
  std::unique_ptr<AgentCore> core_;
};

TEST_F(AgentCoreTest, TheHelloCarriesTheWireGuardInterfacesOfItsDrivers) {
  EXPECT_TRUE(core_->WireGuardInterfaces().empty());
  peers_.identity = WireGuardIdentity{.iface = "wg0",
                                      .public_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
                                      .endpoint = "vpn1.example.net:51820",
                                      .listen_port = 51820};
  std::vector<v1::WireGuardInterface> interfaces = core_->WireGuardInterfaces();
  ASSERT_EQ(interfaces.size(), 1u);  // the driver without one says nothing
  EXPECT_EQ(interfaces[0].interface(), "wg0");
  EXPECT_EQ(interfaces[0].public_key(), "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
  EXPECT_EQ(interfaces[0].endpoint(), "vpn1.example.net:51820");
  EXPECT_EQ(interfaces[0].listen_port(), 51820);
}

TEST_F(AgentCoreTest, AdmitsThroughTheControlPlane) {
  AdmitAnswer answer = core_->Admit(PasswordLogin("k1", "alice", "correct horse"));
  EXPECT_TRUE(answer.admitted);
  EXPECT_EQ(answer.session_id, "session-1");
  EXPECT_EQ(answer.username, "alice");
  ASSERT_EQ(client_.requests.size(), 1u);
  const v1::AdmitRequest& request = client_.requests[0];
  EXPECT_EQ(request.protocol(), v1::OPENVPN);
  EXPECT_EQ(request.session_key(), "k1");
  EXPECT_EQ(request.password().username(), "alice");
  EXPECT_EQ(request.password().password(), "correct horse");
  EXPECT_EQ(request.attempt_id().size(), 64u) << "names the attempt if it is abandoned";

  core_->Opened("k1", "10.8.0.2");
  ASSERT_EQ(client_.events.size(), 1u);
  EXPECT_EQ(client_.events[0].opened().session_id(), "session-1");
  EXPECT_EQ(client_.events[0].opened().tunnel_address(), "10.8.0.2");
}

TEST_F(AgentCoreTest, SendsTicketsAsTicketsAndVouchedUsersAsAsserted) {
  core_->Admit(TicketLogin("q1", "alice"));
  core_->Admit(Query(Protocol::kWireGuard, "wg:x", "bob"));
  ASSERT_EQ(client_.requests.size(), 2u);
  EXPECT_EQ(client_.requests[0].connect_ticket().substr(0, 4), "wct_");
  EXPECT_EQ(client_.requests[0].claimed_username(), "alice");
  EXPECT_EQ(client_.requests[0].protocol(), v1::QUIC);
  EXPECT_EQ(client_.requests[1].asserted_user().username(), "bob");
  EXPECT_EQ(client_.requests[1].protocol(), v1::WIREGUARD);
}

TEST_F(AgentCoreTest, PassesOnTheControlPlanesDenial) {
  v1::AdmitResponse denied;
  denied.mutable_denied()->set_reason(v1::DEVICE_LIMIT_REACHED);
  denied.mutable_denied()->set_message("device limit 2 reached");
  client_.answers.push_back(denied);
  AdmitAnswer answer = core_->Admit(PasswordLogin("k1", "alice", "pw"));
  EXPECT_FALSE(answer.admitted);
  EXPECT_EQ(answer.deny_reason, "DEVICE_LIMIT_REACHED");
  EXPECT_EQ(answer.message, "device limit 2 reached");
  EXPECT_THAT(client_.events, IsEmpty()) << "a denial is an answer: nothing to abandon";
}

TEST_F(AgentCoreTest, FailClosedRefusesAndReportsTheAttemptAbandoned) {
  core_->Admit(PasswordLogin("k1", "alice", "pw"));  // admitted before: fail-closed ignores it
  for (absl::StatusCode code : {absl::StatusCode::kUnavailable, absl::StatusCode::kDeadlineExceeded,
                                absl::StatusCode::kResourceExhausted}) {
    client_.events.clear();
    Unreachable(code);
    AdmitAnswer answer = core_->Admit(PasswordLogin("k2", "alice", "pw"));
    EXPECT_FALSE(answer.admitted) << code;
    EXPECT_EQ(answer.deny_reason, "CONTROL_PLANE_UNREACHABLE") << code;
    ASSERT_EQ(client_.events.size(), 1u) << code;
    const v1::SessionClosed& closed = client_.events[0].closed();
    EXPECT_EQ(closed.session_key(), "k2");
    EXPECT_EQ(closed.abandoned_attempt_id(), client_.requests.back().attempt_id());
    EXPECT_THAT(closed.reason(), HasSubstr("admission abandoned"));
  }
}

TEST_F(AgentCoreTest, FailOpenAdmitsARecentUserWithTheSamePassword) {
  MakeCore(FailMode::kOpen);
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  clock_.Advance(absl::Minutes(14));
  Unreachable();
  AdmitAnswer answer = core_->Admit(PasswordLogin("k2", "alice", "pw"));
  EXPECT_TRUE(answer.admitted);
  EXPECT_TRUE(answer.session_id.empty()) << "admitted offline";
  EXPECT_THAT(client_.events, IsEmpty()) << "admitted: nothing abandoned";
  EXPECT_THAT(
      metrics_->Expose(),
      HasSubstr("warden_agent_admissions_total{result=\"admitted_offline\",reason=\"none\"} 1\n"));
}

TEST_F(AgentCoreTest, FailOpenRefusesAnotherPassword) {
  MakeCore(FailMode::kOpen);
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  Unreachable();
  AdmitAnswer answer = core_->Admit(PasswordLogin("k2", "alice", "guess"));
  EXPECT_FALSE(answer.admitted);
  EXPECT_EQ(answer.deny_reason, "CONTROL_PLANE_UNREACHABLE");
}

TEST_F(AgentCoreTest, FailOpenForgetsUsersAfterTheWindow) {
  MakeCore(FailMode::kOpen);
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  clock_.Advance(absl::Minutes(15) + absl::Seconds(1));
  Unreachable();
  EXPECT_FALSE(core_->Admit(PasswordLogin("k2", "alice", "pw")).admitted);
}

TEST_F(AgentCoreTest, FailOpenNeverAdmitsAConnectTicket) {
  MakeCore(FailMode::kOpen);
  ASSERT_TRUE(core_->Admit(TicketLogin("q1", "alice")).admitted);
  Unreachable();
  AdmitAnswer answer = core_->Admit(TicketLogin("q2", "alice"));
  EXPECT_FALSE(answer.admitted) << "a ticket is single-use: it vouches for nothing offline";
}

TEST_F(AgentCoreTest, OtherErrorsDenyWithoutTheFailMode) {
  MakeCore(FailMode::kOpen);
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  client_.answers.push_back(absl::InvalidArgumentError("session_key is required"));
  AdmitAnswer answer = core_->Admit(PasswordLogin("k2", "alice", "pw"));
  EXPECT_FALSE(answer.admitted);
  EXPECT_EQ(answer.deny_reason, "ERROR");
  EXPECT_THAT(client_.events, IsEmpty()) << "the call was refused: nothing was admitted";

  client_.answers.push_back(absl::InternalError("boom"));
  EXPECT_EQ(core_->Admit(PasswordLogin("k3", "alice", "pw")).deny_reason, "ERROR");
  ASSERT_EQ(client_.events.size(), 1u) << "the outcome is unknown: abandoned";
  EXPECT_EQ(client_.events[0].closed().session_key(), "k3");
}

TEST_F(AgentCoreTest, DrainingRefusesNewConnectionsWithoutAsking) {
  v1::Command drain;
  drain.set_id(1);
  drain.set_kind(v1::DRAIN);
  drain.set_draining(true);
  EXPECT_TRUE(core_->Execute(drain).ok());
  AdmitAnswer answer = core_->Admit(PasswordLogin("k1", "alice", "pw"));
  EXPECT_EQ(answer.deny_reason, "NODE_DRAINING");
  EXPECT_THAT(client_.requests, IsEmpty());
  drain.set_draining(false);
  core_->Execute(drain);
  EXPECT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
}

TEST_F(AgentCoreTest, KillsTheSessionOnTheDriverCarryingIt) {
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  driver_.sessions["k1"] = "alice";
  v1::CommandResult result = core_->Execute(KillCommand(9, "session-1", ""));
  EXPECT_TRUE(result.ok()) << result.error();
  EXPECT_EQ(result.command_id(), 9);
  EXPECT_THAT(driver_.kills, ElementsAre("k1 evicted"));
}

TEST_F(AgentCoreTest, TellsTheDriverTheEndReasonAndTheSentence) {
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  driver_.sessions["k1"] = "alice";
  v1::Command kill = KillCommand(9, "session-1", "");
  kill.set_reason_code("killed_by_admin");
  kill.set_reason("abuse report 7");
  EXPECT_TRUE(core_->Execute(kill).ok());
  EXPECT_THAT(driver_.kills, ElementsAre("k1 killed_by_admin: abuse report 7"));
}

TEST_F(AgentCoreTest, KillOfASessionThatIsGoneSucceeds) {
  v1::CommandResult result = core_->Execute(KillCommand(3, "session-x", "nobody"));
  EXPECT_TRUE(result.ok()) << "commands come again; a gone session is killed already";
  EXPECT_THAT(driver_.kills, IsEmpty());
}

TEST_F(AgentCoreTest, KillSparesANewerSessionOnTheSameKey) {
  v1::AdmitResponse newer;
  newer.mutable_admitted()->set_session_id("session-new");
  newer.mutable_admitted()->set_username("alice");
  client_.answers.push_back(newer);
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  driver_.sessions["k1"] = "alice";
  EXPECT_TRUE(core_->Execute(KillCommand(4, "session-old", "k1")).ok());
  EXPECT_THAT(driver_.kills, IsEmpty()) << "the key now belongs to session-new";
}

TEST_F(AgentCoreTest, SetsBandwidthOnTheDriversCarryingTheUser) {
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  driver_.sessions["k1"] = "alice";
  v1::Command limit;
  limit.set_id(5);
  limit.set_kind(v1::SET_BANDWIDTH);
  limit.set_user_id("user-1");
  limit.set_bandwidth_bytes_per_second(125000);
  EXPECT_TRUE(core_->Execute(limit).ok());
  EXPECT_EQ(driver_.limits["alice"], 125000);
  EXPECT_THAT(peers_.limits, IsEmpty());
}

TEST_F(AgentCoreTest, RoutesPeerCommandsToPeerDriversOnly) {
  v1::Command add;
  add.set_id(6);
  add.set_kind(v1::ADD_PEER);
  add.mutable_peer()->set_public_key("key-a");
  add.mutable_peer()->set_username("alice");
  EXPECT_TRUE(core_->Execute(add).ok());
  EXPECT_THAT(peers_.peers, ElementsAre("key-a"));

  add.mutable_peer()->clear_public_key();
  v1::CommandResult refused = core_->Execute(add);
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.error(), HasSubstr("public_key is required"));
}

TEST_F(AgentCoreTest, RefusesPeerCommandsWithoutAPeerDriver) {
  MakeCore(FailMode::kClosed, {&driver_});
  v1::Command add;
  add.set_kind(v1::ADD_PEER);
  add.mutable_peer()->set_public_key("key-a");
  v1::CommandResult result = core_->Execute(add);
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result.error(), HasSubstr("no driver that carries peers"));
}

TEST_F(AgentCoreTest, ReportsAnUnknownCommandKindAsAnError) {
  v1::Command odd;
  odd.set_id(11);
  odd.set_kind(static_cast<v1::CommandKind>(999));
  v1::CommandResult result = core_->Execute(odd);
  EXPECT_FALSE(result.ok());
  EXPECT_THAT(result.error(), HasSubstr("unknown command kind 999"));
}

TEST_F(AgentCoreTest, InventoryNamesTheSessionIdsTheControlPlaneGave) {
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  driver_.sessions["k1"] = "alice";
  driver_.sessions["k2"] = "bob";  // carried from before this agent started
  std::vector<v1::InventorySession> inventory = core_->Inventory();
  ASSERT_EQ(inventory.size(), 2u);
  EXPECT_EQ(inventory[0].session_key(), "k1");
  EXPECT_EQ(inventory[0].session_id(), "session-1");
  EXPECT_EQ(inventory[1].session_key(), "k2");
  EXPECT_EQ(inventory[1].session_id(), "");

  v1::Welcome welcome;
  v1::AdoptedSession* adopted = welcome.add_adopted();
  adopted->set_session_key("k2");
  adopted->set_session_id("session-2");
  core_->OnWelcome(welcome);
  EXPECT_EQ(core_->Inventory()[1].session_id(), "session-2");
}

TEST_F(AgentCoreTest, ClosedReportsTheSessionOnceAndForgetsIt) {
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  core_->Closed("k1", "client disconnected", 10, 20);
  core_->Closed("k1", "client disconnected", 10, 20);
  ASSERT_EQ(client_.events.size(), 2u);
  EXPECT_EQ(client_.events[0].closed().session_id(), "session-1");
  EXPECT_EQ(client_.events[0].closed().rx_bytes(), 10);
  EXPECT_EQ(client_.events[1].closed().session_id(), "") << "forgotten after the first";
}

// An admission committed between the Hello's inventory and its reconcile
// would be in neither: the reconcile would close it as lost while the node
// carries it. So none is asked meanwhile.
TEST_F(AgentCoreTest, AdmissionsWaitWhileAHelloIsUnansweredAndThenFollowTheFailMode) {
  admit_timeout_ = absl::Milliseconds(1);
  MakeCore(FailMode::kClosed);
  core_->Inventory();
  AdmitAnswer waited = core_->Admit(PasswordLogin("k1", "alice", "pw"));
  EXPECT_FALSE(waited.admitted);
  EXPECT_EQ(waited.deny_reason, "CONTROL_PLANE_UNREACHABLE");
  EXPECT_TRUE(client_.requests.empty()) << "asked while the Hello was unanswered";

  core_->HelloSettled();
  EXPECT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  EXPECT_EQ(client_.requests.size(), 1u);
}

// The driver's client waits for one admit timeout, not for the wait on the
// Hello and then a whole timeout more.
TEST_F(AgentCoreTest, AnAdmissionThatWaitedForAHelloAsksWithWhatIsLeftOfItsBudget) {
  MakeCore(FailMode::kClosed);
  core_->Inventory();
  std::thread settles([&] {
    absl::SleepFor(absl::Milliseconds(300));
    core_->HelloSettled();
  });
  EXPECT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  settles.join();
  ASSERT_EQ(client_.timeouts.size(), 1u);
  EXPECT_LE(client_.timeouts[0], admit_timeout_ - absl::Milliseconds(300));
  EXPECT_GT(client_.timeouts[0], absl::ZeroDuration());

  EXPECT_TRUE(core_->Admit(PasswordLogin("k2", "alice", "pw")).admitted);
  ASSERT_EQ(client_.timeouts.size(), 2u);
  EXPECT_GT(client_.timeouts[1], admit_timeout_ - absl::Milliseconds(300))
      << "nothing to wait for: (nearly) the whole budget";
}

TEST_F(AgentCoreTest, TheInventoryWaitsForAdmissionsAlreadyAsked) {
  // The Hello is built while an admission is out: its inventory must come
  // after the answer, and name the session (the driver does not list it yet).
  std::vector<v1::InventorySession> inventory;
  std::thread hello;
  client_.while_asked = [&] { hello = std::thread([&] { inventory = core_->Inventory(); }); };
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  hello.join();
  ASSERT_EQ(inventory.size(), 1u);
  EXPECT_EQ(inventory[0].session_key(), "k1");
  EXPECT_EQ(inventory[0].session_id(), "session-1");
}

TEST_F(AgentCoreTest, InventoryNamesAnAdmissionTheDriverDoesNotListYetOnce) {
  ASSERT_TRUE(core_->Admit(PasswordLogin("k1", "alice", "pw")).admitted);
  std::vector<v1::InventorySession> first = core_->Inventory();
  core_->HelloSettled();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].session_key(), "k1");
  EXPECT_EQ(first[0].session_id(), "session-1");
  EXPECT_EQ(first[0].username(), "alice");
  EXPECT_EQ(first[0].protocol(), v1::OPENVPN);
  // Still not on the driver by the next Hello: the node does not carry it.
  EXPECT_TRUE(core_->Inventory().empty());
}

}  // namespace
}  // namespace warden::agent
