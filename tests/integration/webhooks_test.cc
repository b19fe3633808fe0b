// Webhooks end to end against a real PostgreSQL and a real receiver written
// by others: a Node endpoint that verifies every message with the npm
// `standardwebhooks` package. Events leave through the outbox the audit log
// fills in the same transaction; the receiver checks the signatures; the
// tests check ids, payloads, retries, a receiver that was down, a rolled
// back change, secret rotation, an endpoint given up on and the guard
// against private targets.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <pqxx/pqxx>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controlplane/webhooks/target_guard.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/wait.h"
#include "tests/support/webhook_receiver.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kWebhookKey[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

// A key file for the control plane, in a directory of the test's own.
class KeyDir {
 public:
  KeyDir() {
    char pattern[] = "/tmp/warden-webhooks.XXXXXX";
    path_ = ::mkdtemp(pattern);
    std::ofstream(path_ + "/webhook.key") << kWebhookKey << "\n";
  }
  ~KeyDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string key_file() const { return path_ + "/webhook.key"; }

 private:
  std::string path_;
};

class WebhookTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.metrics_listen = "127.0.0.1:0";
    config.webhook_key_file = keys_.key_file();
    config.webhook_allow_private_targets = allow_private_;
    config.webhook_retry_schedule = retry_schedule_;
    config.webhook_timeout = absl::Seconds(2);
    config.webhook_per_endpoint = per_endpoint_;
    config.heartbeat_interval = heartbeat_;
    config.sweep_interval = absl::Milliseconds(500);
  }

  void SetUp() override {
    if (std::string why = WebhookReceiver::Unavailable(); !why.empty()) GTEST_SKIP() << why;
    ControlPlaneTest::SetUp();
    std::string error;
    receiver_ = WebhookReceiver::Start(keys_.path(), &error);
    ASSERT_NE(receiver_, nullptr) << error;
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
  }

  // Again, with the configuration as it is now (a new retry schedule, say).
  void RestartControlPlane() {
    control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
    ConfigureControlPlane(config);
    StartControlPlane(config);
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
  }

  v1::CreateWebhookResponse CreateWebhook(std::vector<std::string> types,
                                          const std::string& url = "") {
    v1::CreateWebhookRequest request;
    request.set_url(url.empty() ? receiver_->url() : url);
    for (const std::string& type : types) request.add_event_types(type);
    request.set_description("test receiver");
    v1::CreateWebhookResponse response;
    grpc::Status status = Admin()->CreateWebhook(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  std::vector<v1::WebhookDelivery> Deliveries(const std::string& webhook_id) {
    v1::ListWebhookDeliveriesRequest request;
    request.set_webhook_id(webhook_id);
    v1::ListWebhookDeliveriesResponse response;
    grpc::Status status = Admin()->ListWebhookDeliveries(Context().get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.deliveries().begin(), response.deliveries().end()};
  }

  v1::WebhookDelivery Test(const std::string& webhook_id) {
    v1::TestWebhookRequest request;
    request.set_webhook_id(webhook_id);
    v1::WebhookDelivery delivery;
    grpc::Status status = Admin()->TestWebhook(Context().get(), request, &delivery);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return delivery;
  }

  // The messages of these types the receiver has, once it has `count`.
  std::vector<ReceivedMessage> WaitForTypes(const std::set<std::string>& types, size_t count) {
    std::vector<ReceivedMessage> found;
    WaitFor([&] {
      found.clear();
      for (ReceivedMessage& message : receiver_->Messages()) {
        if (types.count(message.type)) found.push_back(std::move(message));
      }
      return found.size() >= count;
    });
    return found;
  }

  KeyDir keys_;
  absl::Duration heartbeat_ = absl::Seconds(10);
  int per_endpoint_ = 8;
  bool allow_private_ = true;
  std::string retry_schedule_ = "300ms,600ms,1s";
  std::unique_ptr<WebhookReceiver> receiver_;
  std::unique_ptr<FleetClient> fleet_;
};

TEST_F(WebhookTest, DeliversSessionEventsTheReferenceLibraryVerifies) {
  v1::CreateWebhookResponse webhook = CreateWebhook({"session.", "user.limit_reached"});
  ASSERT_THAT(webhook.secret(), ::testing::StartsWith("whsec_"));
  receiver_->SetSecrets({webhook.secret()});

  TestNode node = fleet_->CreateNode("vpn-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  fleet_->CreateUser("alice", 1);  // EVICT_OLDEST
  const std::string first = fleet_->AdmitAssertedOk(node, "alice", "k1").admitted().session_id();
  const std::string second = fleet_->AdmitAssertedOk(node, "alice", "k2").admitted().session_id();
  // The node reports the evicted tunnel gone.
  std::optional<v1::Command> kill = agent.WaitForCommand(
      [&](const v1::Command& command) { return command.session_id() == first; });
  ASSERT_TRUE(kill.has_value());
  EXPECT_EQ(kill->reason_code(), "evicted");
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "k1", &closed).ok());
  fleet_->CreateUser("bob", 1, v1::REJECT);
  fleet_->AdmitAssertedOk(node, "bob", "b1");
  EXPECT_FALSE(fleet_->AdmitAssertedOk(node, "bob", "b2").has_admitted());

  std::vector<ReceivedMessage> messages =
      WaitForTypes({"session.opened", "session.evicted", "session.closed", "session.denied",
                    "user.limit_reached"},
                   7);
  ASSERT_EQ(messages.size(), 7u) << [&] {
    std::string seen;
    for (const ReceivedMessage& message : receiver_->Messages()) seen += message.type + " ";
    return seen;
  }();
  std::set<std::string> ids;
  std::map<std::string, int> types;
  for (const ReceivedMessage& message : messages) {
    EXPECT_TRUE(message.verified) << message.error;
    EXPECT_EQ(message.status, 200);
    ids.insert(message.id);
    ++types[message.type];
    EXPECT_EQ(message.body["id"], message.id);
    EXPECT_EQ(message.body["type"], message.type);
    EXPECT_TRUE(message.body["timestamp"].is_string());
    EXPECT_FALSE(absl::StrContains(message.body.dump(), "password"));
  }
  EXPECT_EQ(ids.size(), messages.size()) << "an id per event";
  EXPECT_EQ(types["session.opened"], 3);
  EXPECT_EQ(types["session.evicted"], 1);
  EXPECT_EQ(types["session.closed"], 1);
  EXPECT_EQ(types["session.denied"], 1);
  EXPECT_EQ(types["user.limit_reached"], 1);
  // user.created was not subscribed to.
  for (const ReceivedMessage& message : receiver_->Messages()) {
    EXPECT_NE(message.type, "user.created");
  }
  for (const ReceivedMessage& message : messages) {
    if (message.type == "session.closed") {
      EXPECT_EQ(message.body["data"]["session_id"], first);
      EXPECT_EQ(message.body["data"]["reason"], "evicted");
    }
    if (message.type == "session.evicted") {
      EXPECT_EQ(message.body["data"]["evicted_by"], second);
    }
    if (message.type == "user.limit_reached") {
      EXPECT_EQ(message.body["data"]["reason"], "device_limit_reached");
      EXPECT_EQ(message.body["data"]["username"], "bob");
    }
  }

  // The end reason is on the session, in ListSessions.
  v1::ListSessionsRequest list;
  list.set_state(v1::SESSION_STATE_CLOSED);
  v1::ListSessionsResponse sessions;
  ASSERT_TRUE(Admin()->ListSessions(Context().get(), list, &sessions).ok());
  ASSERT_EQ(sessions.sessions_size(), 1);
  EXPECT_EQ(sessions.sessions(0).end_reason(), "evicted");

  // Every delivery is recorded as delivered, on the first attempt.
  ASSERT_TRUE(WaitFor([&] {
    for (const v1::WebhookDelivery& delivery : Deliveries(webhook.webhook().id())) {
      if (delivery.status() != v1::DELIVERY_STATUS_DELIVERED) return false;
    }
    return true;
  }));
  for (const v1::WebhookDelivery& delivery : Deliveries(webhook.webhook().id())) {
    EXPECT_EQ(delivery.attempts(), 1);
    EXPECT_EQ(delivery.last_http_status(), 200);
  }
  EXPECT_GE(Metric("warden_webhook_deliveries_total", {{"result", "delivered"}}), 7);
}

// node.offline is announced by the sweep once three heartbeats are missed;
// this test's agent never answers heartbeats, so it is silent at once.
class WebhookNodeTest : public WebhookTest {
 protected:
  WebhookNodeTest() { heartbeat_ = absl::Seconds(1); }
};

TEST_F(WebhookNodeTest, AnnouncesNodesComingOnlineAndGoingOffline) {
  v1::CreateWebhookResponse webhook = CreateWebhook({"node."});
  receiver_->SetSecrets({webhook.secret()});
  TestNode node = fleet_->CreateNode("vpn-7");
  auto agent = std::make_unique<FakeAgent>(fleet_->agent(), node.credential,
                                           std::vector<std::string>{"openvpn"});
  ASSERT_TRUE(agent->welcomed());
  std::vector<ReceivedMessage> online = WaitForTypes({"node.online"}, 1);
  ASSERT_EQ(online.size(), 1u);
  EXPECT_EQ(online[0].body["data"]["node"], "vpn-7");
  EXPECT_EQ(online[0].body["data"]["node_id"], node.node.id());
  agent.reset();  // silent from now on
  std::vector<ReceivedMessage> offline = WaitForTypes({"node.offline"}, 1);
  ASSERT_EQ(offline.size(), 1u) << "after three missed heartbeats and a sweep";
  EXPECT_EQ(offline[0].body["data"]["node"], "vpn-7");
  // Back again: online again, once.
  agent = std::make_unique<FakeAgent>(fleet_->agent(), node.credential,
                                      std::vector<std::string>{"openvpn"});
  ASSERT_EQ(WaitForTypes({"node.online"}, 2).size(), 2u);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(WaitForTypes({"node.online", "node.offline"}, 3).size(), 3u);
}

TEST_F(WebhookTest, KillsAndDisablingCarryTheirEndReason) {
  v1::CreateWebhookResponse webhook = CreateWebhook({"session.killed", "session.closed", "user."});
  receiver_->SetSecrets({webhook.secret()});
  TestNode node = fleet_->CreateNode("vpn-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  const v1::User carol = fleet_->CreateUser("carol", 3);
  const std::string first = fleet_->AdmitAssertedOk(node, "carol", "c1").admitted().session_id();
  const std::string second = fleet_->AdmitAssertedOk(node, "carol", "c2").admitted().session_id();

  v1::KillSessionRequest kill;
  kill.set_session_id(first);
  kill.set_reason("abuse report 7");
  v1::KillSessionResponse killed;
  ASSERT_TRUE(Admin()->KillSession(Context().get(), kill, &killed).ok());
  std::optional<v1::Command> command = agent.WaitForCommand(
      [&](const v1::Command& candidate) { return candidate.session_id() == first; });
  ASSERT_TRUE(command.has_value());
  EXPECT_EQ(command->reason_code(), "killed_by_admin");
  EXPECT_EQ(command->reason(), "abuse report 7");

  v1::UpdateUserRequest disable;
  disable.mutable_user()->set_id(carol.id());
  disable.mutable_user()->set_disabled(true);
  disable.mutable_update_mask()->add_paths("disabled");
  v1::User updated;
  ASSERT_TRUE(Admin()->UpdateUser(Context().get(), disable, &updated).ok());

  // carol's creation, the kill, and disabling her: her other session is
  // killed as user_disabled, the one being killed is killed again for the
  // reason it is already ending for.
  std::vector<ReceivedMessage> messages =
      WaitForTypes({"session.killed", "user.disabled", "user.created"}, 5);
  ASSERT_EQ(messages.size(), 5u);
  std::map<std::string, std::set<std::string>> reasons;  // session → reasons
  int disabled = 0;
  for (const ReceivedMessage& message : messages) {
    EXPECT_TRUE(message.verified) << message.error;
    if (message.type == "session.killed") {
      reasons[message.body["data"]["session_id"]].insert(message.body["data"]["reason"]);
    }
    if (message.type == "user.disabled") {
      ++disabled;
      EXPECT_EQ(message.body["data"]["username"], "carol");
    }
  }
  EXPECT_EQ(disabled, 1);
  EXPECT_EQ(reasons[first], std::set<std::string>{"killed_by_admin"});
  EXPECT_EQ(reasons[second], std::set<std::string>{"user_disabled"});
  EXPECT_EQ(QueryInt(absl::StrCat("SELECT count(*) FROM sessions WHERE id = '", second,
                                  "' AND end_reason = 'user_disabled'")),
            1);
}

TEST_F(WebhookTest, RetriesAFailedAttemptWithTheSameId) {
  v1::CreateWebhookResponse webhook = CreateWebhook({});
  receiver_->SetSecrets({webhook.secret()});
  ASSERT_TRUE(receiver_->FailNext(2, 500));
  const v1::WebhookDelivery queued = Test(webhook.webhook().id());
  EXPECT_EQ(queued.event_type(), "webhook.test");

  std::vector<ReceivedMessage> attempts = receiver_->WaitForMessages(3);
  ASSERT_EQ(attempts.size(), 3u) << receiver_->Log();
  for (const ReceivedMessage& attempt : attempts) {
    EXPECT_EQ(attempt.id, queued.message_id());
    EXPECT_TRUE(attempt.verified) << attempt.error;
  }
  EXPECT_EQ(attempts[0].status, 500);
  EXPECT_EQ(attempts[1].status, 500);
  EXPECT_EQ(attempts[2].status, 200);
  ASSERT_TRUE(WaitFor([&] {
    std::vector<v1::WebhookDelivery> all = Deliveries(webhook.webhook().id());
    return all.size() == 1 && all[0].status() == v1::DELIVERY_STATUS_DELIVERED;
  }));
  const v1::WebhookDelivery delivered = Deliveries(webhook.webhook().id())[0];
  EXPECT_EQ(delivered.attempts(), 3);
  EXPECT_GE(Metric("warden_webhook_deliveries_total", {{"result", "retried"}}), 2);
}

TEST_F(WebhookTest, DeliversWhatQueuedWhileTheReceiverWasDown) {
  retry_schedule_ = "500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s";
  RestartControlPlane();
  v1::CreateWebhookResponse webhook = CreateWebhook({"user."});
  receiver_->SetSecrets({webhook.secret()});
  receiver_->Stop();
  for (const char* name : {"carol", "dave", "erin"}) fleet_->CreateUser(name, 1);
  // Each has been tried and failed at least once.
  ASSERT_TRUE(WaitFor([&] {
    std::vector<v1::WebhookDelivery> all = Deliveries(webhook.webhook().id());
    if (all.size() != 3) return false;
    for (const v1::WebhookDelivery& delivery : all) {
      if (delivery.attempts() < 1 || delivery.last_error().empty()) return false;
    }
    return true;
  }));
  std::set<std::string> queued_ids;
  for (const v1::WebhookDelivery& delivery : Deliveries(webhook.webhook().id())) {
    queued_ids.insert(delivery.message_id());
  }
  ASSERT_TRUE(receiver_->Restart());
  std::vector<ReceivedMessage> arrived = receiver_->WaitForMessages(3);
  ASSERT_GE(arrived.size(), 3u);
  std::set<std::string> arrived_ids;
  for (const ReceivedMessage& message : arrived) {
    EXPECT_TRUE(message.verified) << message.error;
    EXPECT_EQ(message.type, "user.created");
    arrived_ids.insert(message.id);
  }
  EXPECT_EQ(arrived_ids, queued_ids);
}

TEST_F(WebhookTest, KeepsAtMostPerEndpointDeliveriesOnTheWire) {
  per_endpoint_ = 2;
  RestartControlPlane();
  v1::CreateWebhookResponse webhook = CreateWebhook({});
  receiver_->SetSecrets({webhook.secret()});
  constexpr int kAnswerMs = 400;
  ASSERT_TRUE(receiver_->Delay(kAnswerMs));
  for (int i = 0; i < 6; ++i) Test(webhook.webhook().id());
  std::vector<ReceivedMessage> arrived = receiver_->WaitForMessages(6, absl::Seconds(20));
  ASSERT_EQ(arrived.size(), 6u);
  // Each answer takes 400 ms: a request that arrives while two others
  // still wait for theirs would be a third on the wire.
  for (const ReceivedMessage& message : arrived) {
    int waiting = 0;
    for (const ReceivedMessage& other : arrived) {
      const int64_t before = message.received_at_ms - other.received_at_ms;
      if (before >= 0 && before < kAnswerMs - 50) ++waiting;
    }
    EXPECT_LE(waiting, 2) << "at " << message.received_at_ms;
  }
  // Two at a time: three rounds of at least 400 ms.
  EXPECT_GE(arrived.back().received_at_ms - arrived.front().received_at_ms, 2 * kAnswerMs - 50);
}

TEST_F(WebhookTest, ARolledBackChangeSendsNothing) {
  v1::CreateWebhookResponse webhook = CreateWebhook({"user."});
  receiver_->SetSecrets({webhook.secret()});
  const std::string insert =
      "INSERT INTO audit_events (actor, action, subject, details) VALUES ('test', "
      "'user.create', 'user:00000000-0000-0000-0000-00000000000";
  {
    pqxx::connection connection(db_->url());
    pqxx::work rolled_back(connection);
    rolled_back.exec(insert + "1', '{\"username\": \"ghost\"}')");
    EXPECT_EQ(rolled_back.exec1("SELECT count(*) FROM webhook_deliveries")[0].as<int>(), 1)
        << "queued inside the transaction";
    rolled_back.abort();
    pqxx::work committed(connection);
    committed.exec(insert + "2', '{\"username\": \"real\"}')");
    committed.commit();
  }
  std::vector<ReceivedMessage> arrived = receiver_->WaitForMessages(1);
  ASSERT_EQ(arrived.size(), 1u);
  EXPECT_EQ(arrived[0].body["data"]["username"], "real");
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_EQ(receiver_->Messages().size(), 1u);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM webhook_deliveries"), 1);
}

TEST_F(WebhookTest, SignsWithBothSecretsForADayAfterARotation) {
  v1::CreateWebhookResponse webhook = CreateWebhook({});
  v1::RotateWebhookSecretRequest rotate;
  rotate.set_webhook_id(webhook.webhook().id());
  v1::CreateWebhookResponse rotated;
  ASSERT_TRUE(Admin()->RotateWebhookSecret(Context().get(), rotate, &rotated).ok());
  ASSERT_NE(rotated.secret(), webhook.secret());
  EXPECT_TRUE(rotated.webhook().has_previous_secret_expires_at());
  EXPECT_NEAR(
      rotated.webhook().previous_secret_expires_at().seconds() - absl::ToUnixSeconds(absl::Now()),
      24 * 3600, 60);

  receiver_->SetSecrets({webhook.secret()});  // a receiver not yet told
  Test(webhook.webhook().id());
  receiver_->SetSecrets({rotated.secret()});  // one already told
  Test(webhook.webhook().id());
  std::vector<ReceivedMessage> arrived = receiver_->WaitForMessages(2);
  ASSERT_EQ(arrived.size(), 2u);
  for (const ReceivedMessage& message : arrived) {
    EXPECT_TRUE(message.verified) << message.error;
    EXPECT_EQ(std::count(message.signature.begin(), message.signature.end(), ','), 2)
        << message.signature;
  }
  receiver_->SetSecrets({"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});  // someone else's
  Test(webhook.webhook().id());
  std::vector<ReceivedMessage> forged = receiver_->WaitForMessages(3);
  ASSERT_EQ(forged.size(), 3u);
  EXPECT_FALSE(forged[2].verified);
}

TEST_F(WebhookTest, GivesUpOnAnEndpointThatNeverAnswers) {
  retry_schedule_ = "100ms,100ms";
  RestartControlPlane();
  v1::CreateWebhookResponse dead = CreateWebhook({}, "http://127.0.0.1:9/gone");  // discard port
  v1::CreateWebhookResponse alive = CreateWebhook({"webhook."});
  receiver_->SetSecrets({alive.secret()});
  Test(dead.webhook().id());
  v1::GetWebhookRequest get;
  get.set_webhook_id(dead.webhook().id());
  v1::Webhook state;
  ASSERT_TRUE(WaitFor([&] {
    return Admin()->GetWebhook(Context().get(), get, &state).ok() && !state.enabled();
  })) << state.DebugString();
  EXPECT_THAT(state.disabled_reason(), HasSubstr("failed every attempt"));
  EXPECT_EQ(state.deliveries_failed(), 1);
  std::vector<v1::WebhookDelivery> all = Deliveries(dead.webhook().id());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].status(), v1::DELIVERY_STATUS_FAILED);
  EXPECT_EQ(all[0].attempts(), 3);
  EXPECT_FALSE(all[0].last_error().empty());
  // The other endpoint hears of it.
  std::vector<ReceivedMessage> told = WaitForTypes({"webhook.disabled"}, 1);
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(told[0].body["data"]["webhook_id"], dead.webhook().id());
  EXPECT_TRUE(told[0].verified);

  // Enabled again by hand: its failure record is cleared, and a redelivery
  // (to a receiver that answers now) goes through with the same id.
  v1::UpdateWebhookRequest update;
  update.mutable_webhook()->set_id(dead.webhook().id());
  update.mutable_webhook()->set_enabled(true);
  update.mutable_webhook()->set_url(receiver_->url("/revived"));
  update.mutable_update_mask()->add_paths("enabled");
  update.mutable_update_mask()->add_paths("url");
  ASSERT_TRUE(Admin()->UpdateWebhook(Context().get(), update, &state).ok());
  EXPECT_TRUE(state.enabled());
  EXPECT_EQ(state.disabled_reason(), "");
  receiver_->SetSecrets({alive.secret(), dead.secret()});
  v1::RedeliverWebhookRequest redeliver;
  redeliver.set_delivery_id(all[0].id());
  v1::WebhookDelivery again;
  ASSERT_TRUE(Admin()->RedeliverWebhook(Context().get(), redeliver, &again).ok());
  std::vector<ReceivedMessage> revived;
  ASSERT_TRUE(WaitFor([&] {
    revived.clear();
    for (ReceivedMessage& message : receiver_->Messages()) {
      if (message.path == "/revived") revived.push_back(std::move(message));
    }
    return !revived.empty();
  }));
  EXPECT_EQ(revived[0].id, all[0].message_id());
  EXPECT_TRUE(revived[0].verified);
}

TEST_F(WebhookTest, RefusesBadSubscriptionsAndUnknownIds) {
  v1::CreateWebhookRequest request;
  request.set_url(receiver_->url());
  request.add_event_types("billing.");
  v1::CreateWebhookResponse response;
  grpc::Status status = Admin()->CreateWebhook(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("billing."));
  request.clear_event_types();
  request.set_url("ftp://example.com/hook");
  EXPECT_EQ(Admin()->CreateWebhook(Context().get(), request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::GetWebhookRequest get;
  get.set_webhook_id("00000000-0000-0000-0000-000000000000");
  v1::Webhook webhook;
  EXPECT_EQ(Admin()->GetWebhook(Context().get(), get, &webhook).error_code(),
            grpc::StatusCode::NOT_FOUND);
  v1::RedeliverWebhookRequest redeliver;
  redeliver.set_delivery_id(987654);
  v1::WebhookDelivery delivery;
  EXPECT_EQ(Admin()->RedeliverWebhook(Context().get(), redeliver, &delivery).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM webhooks"), 0);
}

TEST_F(WebhookTest, DeletingAnEndpointTakesItsDeliveriesAndIsAudited) {
  v1::CreateWebhookResponse webhook = CreateWebhook({});
  receiver_->Stop();
  Test(webhook.webhook().id());
  v1::DeleteWebhookRequest request;
  request.set_webhook_id(webhook.webhook().id());
  v1::DeleteWebhookResponse response;
  ASSERT_TRUE(Admin()->DeleteWebhook(Context().get(), request, &response).ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM webhook_deliveries"), 0);
  EXPECT_EQ(Admin()->DeleteWebhook(Context().get(), request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action IN ('webhook.create', "
                     "'webhook.test', 'webhook.delete')"),
            3);
}

class WebhookGuardTest : public WebhookTest {
 protected:
  WebhookGuardTest() { allow_private_ = false; }
};

TEST_F(WebhookGuardTest, RefusesPrivateTargetsWithoutTheFlag) {
  for (const char* url :
       {"http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/hook",
        "http://[::1]/hook", "http://169.254.169.254/latest/meta-data"}) {
    v1::CreateWebhookRequest request;
    request.set_url(url);
    v1::CreateWebhookResponse response;
    grpc::Status status = Admin()->CreateWebhook(Context().get(), request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << url;
    EXPECT_THAT(status.error_message(), HasSubstr("--webhook-allow-private-targets")) << url;
  }
  EXPECT_EQ(QueryInt("SELECT count(*) FROM webhooks"), 0);
  // A name is checked when delivering: this machine's own name resolves to
  // one of its addresses (loopback or a private one), so every attempt
  // fails with the guard's reason, and nothing reaches the receiver.
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof host - 1), 0);
  if (control::webhooks::ResolveTarget({.scheme = "http", .host = host, .port = 80}, false)
          .status()
          .code() != absl::StatusCode::kPermissionDenied) {
    GTEST_SKIP() << "this machine's name (" << host << ") does not resolve to a private address";
  }
  v1::CreateWebhookResponse webhook =
      CreateWebhook({}, absl::StrCat("http://", host, ":", receiver_->port(), "/hook"));
  Test(webhook.webhook().id());
  ASSERT_TRUE(WaitFor([&] {
    std::vector<v1::WebhookDelivery> all = Deliveries(webhook.webhook().id());
    return all.size() == 1 && !all[0].last_error().empty();
  }));
  EXPECT_THAT(Deliveries(webhook.webhook().id())[0].last_error(),
              HasSubstr("not a public address"));
  EXPECT_TRUE(receiver_->Messages().empty());
}

}  // namespace
}  // namespace warden::testing
