// Plans and the limits operators sell, through gRPC against a real
// PostgreSQL: the plan API, node labels, what applies to a user, scoped caps
// and restrictions at admission (also under concurrent admissions), a
// change of plan applied to live sessions, and time limits ended by the
// policy sweep on an injected clock.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/fake_clock.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class PlansTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.policy_clock = &clock_;
    config.policy_sweep_max_wait = absl::Milliseconds(100);
    config.db_pool_size = 8;
  }
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
    // In step with the database's clock, which stamps opened_at.
    clock_.Set(absl::Now());
  }

  grpc::Status CreatePlan(const v1::Plan& plan, v1::Plan* created) {
    v1::CreatePlanRequest request;
    *request.mutable_plan() = plan;
    return fleet_->admin().CreatePlan(fleet_->AdminContext().get(), request, created);
  }
  v1::Plan CreatePlanOk(const v1::Plan& plan) {
    v1::Plan created;
    grpc::Status status = CreatePlan(plan, &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return created;
  }
  v1::User CreateUserOnPlan(const std::string& username, const std::string& plan) {
    v1::CreateUserRequest request;
    request.mutable_user()->set_username(username);
    request.mutable_user()->set_plan(plan);
    v1::User user;
    grpc::Status status = fleet_->admin().CreateUser(fleet_->AdminContext().get(), request, &user);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return user;
  }
  grpc::Status UpdateUser(const v1::User& user, std::initializer_list<const char*> paths,
                          v1::User* updated) {
    v1::UpdateUserRequest request;
    *request.mutable_user() = user;
    for (const char* path : paths) request.mutable_update_mask()->add_paths(path);
    return fleet_->admin().UpdateUser(fleet_->AdminContext().get(), request, updated);
  }
  TestNode Node(const std::string& name, const std::string& region) {
    TestNode node = fleet_->CreateNode(name);
    v1::UpdateNodeRequest request;
    request.mutable_node()->set_id(node.node.id());
    (*request.mutable_node()->mutable_labels())["region"] = region;
    request.mutable_update_mask()->add_paths("labels");
    v1::Node updated;
    grpc::Status status =
        fleet_->admin().UpdateNode(fleet_->AdminContext().get(), request, &updated);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(updated.labels().at("region"), region);
    return node;
  }
  v1::AdmitResponse Admit(const TestNode& node, const std::string& username, const std::string& key,
                          v1::Protocol protocol = v1::OPENVPN) {
    v1::AdmitResponse response;
    grpc::Status status = fleet_->AdmitAsserted(node, username, key, &response, protocol);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }
  std::string State(const std::string& key) {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    pqxx::result rows = tx.exec_params(
        "SELECT state || ':' || close_reason FROM sessions WHERE session_key = $1 "
        "ORDER BY opened_at DESC LIMIT 1",
        key);
    return rows.empty() ? "" : rows[0][0].as<std::string>();
  }

  FakeClock clock_;
  std::unique_ptr<FleetClient> fleet_;
};

TEST_F(PlansTest, PlansAreCreatedReadChangedAndDeletedWithAudit) {
  v1::Plan basic;
  basic.set_name("basic");
  basic.set_description("1 device, EU only");
  basic.set_max_connections(1);
  (*basic.mutable_node_selector()->mutable_match())["region"].add_values("eu-west");
  v1::Plan created = CreatePlanOk(basic);
  EXPECT_EQ(created.id().size(), 36u);
  EXPECT_EQ(created.max_connections(), 1);
  EXPECT_FALSE(created.has_max_connections_per_node()) << "unset: the plan says nothing";
  v1::Plan duplicate;
  EXPECT_EQ(CreatePlan(basic, &duplicate).error_code(), grpc::StatusCode::ALREADY_EXISTS);

  v1::GetPlanRequest get;
  get.set_name("basic");
  v1::Plan fetched;
  ASSERT_TRUE(fleet_->admin().GetPlan(fleet_->AdminContext().get(), get, &fetched).ok());
  EXPECT_EQ(fetched.id(), created.id());
  get.set_name("gold");
  EXPECT_EQ(fleet_->admin().GetPlan(fleet_->AdminContext().get(), get, &fetched).error_code(),
            grpc::StatusCode::NOT_FOUND);

  CreateUserOnPlan("ann", "basic");
  v1::UpdatePlanRequest update;
  update.mutable_plan()->set_id(created.id());
  update.mutable_plan()->set_max_connections(2);
  update.mutable_update_mask()->add_paths("max_connections");
  update.mutable_update_mask()->add_paths("node_selector");  // unset: cleared
  v1::Plan changed;
  ASSERT_TRUE(fleet_->admin().UpdatePlan(fleet_->AdminContext().get(), update, &changed).ok());
  EXPECT_EQ(changed.max_connections(), 2);
  EXPECT_FALSE(changed.has_node_selector());
  EXPECT_EQ(changed.users(), 1);

  v1::ListPlansResponse plans;
  ASSERT_TRUE(
      fleet_->admin().ListPlans(fleet_->AdminContext().get(), v1::ListPlansRequest(), &plans).ok());
  ASSERT_EQ(plans.plans_size(), 1);

  v1::DeletePlanRequest del;
  del.set_id(created.id());
  v1::DeletePlanResponse deleted;
  grpc::Status in_use = fleet_->admin().DeletePlan(fleet_->AdminContext().get(), del, &deleted);
  EXPECT_EQ(in_use.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(in_use.error_message(), HasSubstr("1 users are on plan basic"));

  v1::GetUserRequest who;
  who.set_username("ann");
  v1::User ann;
  ASSERT_TRUE(fleet_->admin().GetUser(fleet_->AdminContext().get(), who, &ann).ok());
  v1::User moved;
  ann.clear_plan();
  ASSERT_TRUE(UpdateUser(ann, {"plan"}, &moved).ok());
  EXPECT_EQ(moved.plan(), "");
  EXPECT_TRUE(fleet_->admin().DeletePlan(fleet_->AdminContext().get(), del, &deleted).ok());
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action IN "
                     "('plan.create', 'plan.update', 'plan.delete')"),
            3);

  // A viewer reads plans but changes none.
  v1::CreateApiKeyRequest key;
  key.set_name("dash");
  key.set_role(v1::VIEWER);
  v1::CreateApiKeyResponse viewer;
  ASSERT_TRUE(fleet_->admin().CreateApiKey(fleet_->AdminContext().get(), key, &viewer).ok());
  v1::CreatePlanRequest as_viewer;
  as_viewer.mutable_plan()->set_name("sneaky");
  EXPECT_EQ(
      fleet_->admin().CreatePlan(Context(viewer.secret()).get(), as_viewer, &created).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(fleet_->admin()
                  .ListPlans(Context(viewer.secret()).get(), v1::ListPlansRequest(), &plans)
                  .ok());
}

TEST_F(PlansTest, GetUserShowsWhatAppliesAndWhereEachLimitComesFrom) {
  v1::Plan pro;
  pro.set_name("pro");
  pro.set_max_connections(5);
  pro.set_max_connections_per_node(2);
  CreatePlanOk(pro);
  v1::User bea = CreateUserOnPlan("bea", "pro");
  EXPECT_EQ(bea.effective().max_connections(), 5);
  EXPECT_EQ(bea.effective().sources().at("max_connections"), "plan");
  bea.set_max_connections(1);
  v1::User updated;
  ASSERT_TRUE(UpdateUser(bea, {"max_connections"}, &updated).ok());
  EXPECT_EQ(updated.effective().max_connections(), 1);
  EXPECT_EQ(updated.effective().sources().at("max_connections"), "user");
  EXPECT_EQ(updated.effective().max_connections_per_node(), 2);
  EXPECT_EQ(updated.effective().sources().at("max_connections_per_node"), "plan");
  EXPECT_EQ(updated.effective().limit_policy(), v1::EVICT_OLDEST);
  EXPECT_EQ(updated.effective().sources().at("limit_policy"), "default");
  EXPECT_EQ(updated.effective().plan(), "pro");
  v1::User unknown = bea;
  unknown.set_plan("platinum");
  EXPECT_EQ(UpdateUser(unknown, {"plan"}, &updated).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(PlansTest, QuotaLimitsRoundTripThroughPlansAndUsers) {
  v1::Plan metered;
  metered.set_name("metered");
  metered.set_data_quota_bytes(int64_t{50} << 30);
  metered.set_quota_period_days(30);
  metered.set_on_quota_exceeded(v1::QUOTA_THROTTLE);
  metered.set_throttle_bytes_per_second(131'072);
  const v1::Plan created = CreatePlanOk(metered);
  EXPECT_EQ(created.data_quota_bytes(), int64_t{50} << 30);
  EXPECT_EQ(created.quota_period_days(), 30);
  EXPECT_EQ(created.on_quota_exceeded(), v1::QUOTA_THROTTLE);
  EXPECT_EQ(created.throttle_bytes_per_second(), 131'072);

  v1::UpdatePlanRequest update;
  update.mutable_plan()->set_id(created.id());
  update.mutable_plan()->set_on_quota_exceeded(v1::QUOTA_DENY);
  update.mutable_update_mask()->add_paths("on_quota_exceeded");
  update.mutable_update_mask()->add_paths("throttle_bytes_per_second");  // unset: cleared
  v1::Plan changed;
  ASSERT_TRUE(fleet_->admin().UpdatePlan(fleet_->AdminContext().get(), update, &changed).ok());
  EXPECT_EQ(changed.on_quota_exceeded(), v1::QUOTA_DENY);
  EXPECT_FALSE(changed.has_throttle_bytes_per_second());
  EXPECT_EQ(changed.quota_period_days(), 30) << "not in the mask: left as it was";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'plan.update' "
                     "AND details->'limits'->>'on_quota_exceeded' = 'deny' "
                     "AND (details->'limits'->>'quota_period_days')::int = 30"),
            1);

  v1::User fay = CreateUserOnPlan("fay", "metered");
  EXPECT_EQ(fay.effective().quota_period_days(), 30);
  EXPECT_EQ(fay.effective().sources().at("quota_period_days"), "plan");
  EXPECT_EQ(fay.effective().quota_note(), "") << "no throttle, nothing to explain";
  fay.set_quota_period_days(0);
  fay.set_on_quota_exceeded(v1::QUOTA_THROTTLE);
  fay.set_throttle_bytes_per_second(2'048);
  v1::User updated;
  ASSERT_TRUE(UpdateUser(fay,
                         {"quota_period_days", "on_quota_exceeded", "throttle_bytes_per_second"},
                         &updated)
                  .ok());
  EXPECT_TRUE(updated.has_quota_period_days());
  EXPECT_EQ(updated.quota_period_days(), 0);
  EXPECT_EQ(updated.effective().quota_period_days(), 0);
  EXPECT_EQ(updated.effective().sources().at("quota_period_days"), "user");
  EXPECT_EQ(updated.effective().throttle_bytes_per_second(), 2'048);
  EXPECT_EQ(updated.effective().data_quota_bytes(), int64_t{50} << 30);
  EXPECT_THAT(updated.effective().quota_note(), HasSubstr("throttling applies to QUIC tunnels"));

  struct Invalid {
    const char* path;
    void (*set)(v1::User&);
    const char* message;
  } invalid[] = {
      {"data_quota_bytes", [](v1::User& u) { u.set_data_quota_bytes(-1); },
       "user.data_quota_bytes must be between 0 (no quota)"},
      {"quota_period_days", [](v1::User& u) { u.set_quota_period_days(367); },
       "user.quota_period_days must be between 0 (the calendar month) and 366 days"},
      {"on_quota_exceeded",
       [](v1::User& u) { u.set_on_quota_exceeded(v1::QUOTA_ACTION_UNSPECIFIED); },
       "user.on_quota_exceeded must be QUOTA_DENY or QUOTA_THROTTLE"},
      {"throttle_bytes_per_second", [](v1::User& u) { u.set_throttle_bytes_per_second(0); },
       "user.throttle_bytes_per_second must be between 1024 and"},
  };
  for (const Invalid& c : invalid) {
    v1::User wrong = updated;
    c.set(wrong);
    v1::User refused;
    const grpc::Status status = UpdateUser(wrong, {c.path}, &refused);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.path;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.path;
  }
}

TEST_F(PlansTest, AOneDevicePerServerPlanEvictsOnThatServerOnly) {
  v1::Plan plan;
  plan.set_name("one-per-server");
  plan.set_max_connections(5);
  plan.set_max_connections_per_node(1);
  CreatePlanOk(plan);
  CreateUserOnPlan("cal", "one-per-server");
  TestNode ams = Node("ams-1", "eu-west");
  TestNode fra = Node("fra-1", "eu-central");
  ASSERT_TRUE(Admit(ams, "cal", "a1").has_admitted());
  ASSERT_TRUE(Admit(fra, "cal", "f1").has_admitted());
  v1::AdmitResponse second = Admit(ams, "cal", "a2");
  ASSERT_TRUE(second.has_admitted());
  ASSERT_EQ(second.admitted().evicted_size(), 1);
  EXPECT_EQ(second.admitted().evicted(0).node_name(), "ams-1");
  EXPECT_EQ(State("a1"), "closing:evicted");
  EXPECT_EQ(State("f1"), "active:");
}

TEST_F(PlansTest, RegionCapsSelectorsAndProtocolsAreDecidedAtAdmission) {
  v1::Plan plan;
  plan.set_name("eu");
  v1::LabelCap* cap = plan.mutable_label_caps()->add_caps();
  cap->set_label("region");
  cap->set_max(1);
  auto& regions = (*plan.mutable_node_selector()->mutable_match())["region"];
  regions.add_values("eu-west");
  regions.add_values("eu-central");
  plan.mutable_allowed_protocols()->add_protocols(v1::OPENVPN);
  plan.set_limit_policy(v1::REJECT);
  CreatePlanOk(plan);
  CreateUserOnPlan("dee", "eu");
  TestNode ams = Node("ams-1", "eu-west");
  TestNode lon = Node("lon-1", "eu-west");
  TestNode fra = Node("fra-1", "eu-central");
  TestNode nyc = Node("nyc-1", "us-east");

  EXPECT_EQ(Admit(nyc, "dee", "n1").denied().reason(), v1::NODE_NOT_ALLOWED);
  EXPECT_EQ(Admit(ams, "dee", "w1", v1::QUIC).denied().reason(), v1::PROTOCOL_NOT_ALLOWED);
  ASSERT_TRUE(Admit(ams, "dee", "a1").has_admitted());
  ASSERT_TRUE(Admit(fra, "dee", "f1").has_admitted()) << "another region";
  v1::AdmitResponse same_region = Admit(lon, "dee", "l1");
  ASSERT_TRUE(same_region.has_denied());
  EXPECT_EQ(same_region.denied().reason(), v1::LABEL_LIMIT_REACHED);
  EXPECT_EQ(same_region.denied().message(),
            "at most 1 device per region: 1 device is connected in region eu-west");
}

TEST_F(PlansTest, ConcurrentAdmissionsOnFourNodesHoldEveryScopedCap) {
  v1::Plan plan;
  plan.set_name("race");
  plan.set_max_connections(3);
  plan.set_max_connections_per_node(1);
  CreatePlanOk(plan);
  v1::Plan regional;
  regional.set_name("regional");
  v1::LabelCap* cap = regional.mutable_label_caps()->add_caps();
  cap->set_label("region");
  cap->set_max(1);
  CreatePlanOk(regional);
  CreateUserOnPlan("eve", "race");
  CreateUserOnPlan("fox", "regional");
  std::vector<TestNode> nodes = {Node("ams-1", "eu"), Node("fra-1", "eu"), Node("nyc-1", "us"),
                                 Node("sfo-1", "us")};
  for (const char* user : {"eve", "fox"}) {
    std::vector<std::thread> callers;
    std::atomic<int> errors{0};
    for (size_t n = 0; n < nodes.size(); ++n) {
      for (int i = 0; i < 50; ++i) {
        callers.emplace_back([&, n, i] {
          v1::AdmitResponse response;
          if (!fleet_->AdmitAsserted(nodes[n], user, absl::StrCat(user, ":", n, ":", i), &response)
                   .ok()) {
            ++errors;
          }
        });
      }
    }
    for (std::thread& caller : callers) caller.join();
    EXPECT_EQ(errors.load(), 0) << user;
  }
  EXPECT_LE(QueryInt("SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                     "WHERE u.username = 'eve' AND s.state = 'active'"),
            3);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM (SELECT node_id FROM sessions s JOIN users u "
                     "ON u.id = s.user_id WHERE u.username = 'eve' AND s.state = 'active' "
                     "GROUP BY node_id HAVING count(*) > 1) over"),
            0)
      << "never two live sessions of eve on one node";
  EXPECT_EQ(QueryInt("SELECT count(*) FROM (SELECT n.labels->>'region' FROM sessions s "
                     "JOIN users u ON u.id = s.user_id JOIN nodes n ON n.id = s.node_id "
                     "WHERE u.username = 'fox' AND s.state = 'active' "
                     "GROUP BY n.labels->>'region' HAVING count(*) > 1) over"),
            0)
      << "never two live sessions of fox in one region";
  EXPECT_GE(QueryInt("SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                     "WHERE u.username = 'fox' AND s.state = 'active'"),
            1);
}

TEST_F(PlansTest, ASmallerPlanAppliesToLiveSessionsAtOnce) {
  v1::Plan big;
  big.set_name("big");
  big.set_max_connections(10);
  CreatePlanOk(big);
  v1::Plan small;
  small.set_name("small");
  small.set_max_connections(1);
  small.mutable_allowed_protocols()->add_protocols(v1::OPENVPN);
  CreatePlanOk(small);
  v1::User gil = CreateUserOnPlan("gil", "big");
  TestNode ams = Node("ams-1", "eu");
  ASSERT_TRUE(Admit(ams, "gil", "old").has_admitted());
  ASSERT_TRUE(Admit(ams, "gil", "wg", v1::WIREGUARD).has_admitted());
  ASSERT_TRUE(Admit(ams, "gil", "new").has_admitted());

  gil.set_plan("small");
  v1::User moved;
  ASSERT_TRUE(UpdateUser(gil, {"plan"}, &moved).ok());
  EXPECT_EQ(State("wg"), "closing:policy_changed") << "a protocol no longer allowed";
  EXPECT_EQ(State("old"), "closing:policy_changed") << "the oldest beyond the smaller cap";
  EXPECT_EQ(State("new"), "active:");
  EXPECT_EQ(QueryInt("SELECT count(*) FROM commands WHERE payload->>'reason' = 'policy_changed'"),
            2);
}

TEST_F(PlansTest, ChangingAPlanAppliesToTheLiveSessionsOfItsUsers) {
  v1::Plan plan;
  plan.set_name("team");
  v1::Plan created = CreatePlanOk(plan);
  CreateUserOnPlan("hal", "team");
  CreateUserOnPlan("ida", "team");
  TestNode ams = Node("ams-1", "eu");
  ASSERT_TRUE(Admit(ams, "hal", "hal-ovpn").has_admitted());
  ASSERT_TRUE(Admit(ams, "ida", "ida-ovpn").has_admitted());
  ASSERT_TRUE(Admit(ams, "ida", "ida-wg", v1::WIREGUARD).has_admitted());

  v1::UpdatePlanRequest update;
  update.mutable_plan()->set_id(created.id());
  update.mutable_plan()->mutable_allowed_protocols()->add_protocols(v1::WIREGUARD);
  update.mutable_update_mask()->add_paths("allowed_protocols");
  v1::Plan changed;
  ASSERT_TRUE(fleet_->admin().UpdatePlan(fleet_->AdminContext().get(), update, &changed).ok());
  EXPECT_EQ(State("hal-ovpn"), "closing:policy_changed");
  EXPECT_EQ(State("ida-ovpn"), "closing:policy_changed");
  EXPECT_EQ(State("ida-wg"), "active:");
}

TEST_F(PlansTest, TheSweepEndsSessionsPastTheirMaximumLength) {
  v1::Plan plan;
  plan.set_name("short");
  plan.set_max_session_seconds(120);
  CreatePlanOk(plan);
  CreateUserOnPlan("jo", "short");
  TestNode ams = Node("ams-1", "eu");
  FakeAgent agent(fleet_->agent(), ams.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  ASSERT_TRUE(Admit(ams, "jo", "s1").has_admitted());
  clock_.Advance(absl::Seconds(119));
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(WaitFor([&] { return State("s1") == "closing:max_session"; })) << State("s1");
  std::optional<v1::Command> kill = agent.WaitForCommand([](const v1::Command& command) {
    return command.kind() == v1::KILL_SESSION && command.session_key() == "s1";
  });
  ASSERT_TRUE(kill.has_value());
  EXPECT_EQ(kill->reason(), "max_session");
}

TEST_F(PlansTest, TheSweepEndsIdleSessionsButNotOnesWithRecentTraffic) {
  v1::Plan plan;
  plan.set_name("pci");
  plan.set_idle_timeout_seconds(900);
  CreatePlanOk(plan);
  CreateUserOnPlan("kai", "pci");
  TestNode ams = Node("ams-1", "eu");
  ASSERT_TRUE(Admit(ams, "kai", "busy").has_admitted());
  ASSERT_TRUE(Admit(ams, "kai", "quiet").has_admitted());
  // Traffic on "busy" ten minutes in (the agent's usage report sets this).
  ExecSql(absl::StrCat("UPDATE sessions SET last_traffic_at = from_epoch_us(",
                       absl::ToUnixMicros(clock_.Now() + absl::Minutes(10)),
                       ") WHERE session_key = 'busy'"));
  clock_.Advance(absl::Minutes(16));
  EXPECT_TRUE(WaitFor([&] { return State("quiet") == "closing:idle"; })) << State("quiet");
  EXPECT_EQ(State("busy"), "active:");
  clock_.Advance(absl::Minutes(10));
  EXPECT_TRUE(WaitFor([&] { return State("busy") == "closing:idle"; })) << State("busy");
}

TEST_F(PlansTest, UsageReportsWithNewBytesMarkTraffic) {
  TestNode ams = Node("ams-1", "eu");
  fleet_->CreateUser("lee", 0);
  FakeAgent agent(fleet_->agent(), ams.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  ASSERT_TRUE(Admit(ams, "lee", "u1").has_admitted());
  auto report = [&](int64_t rx) {
    v1::AgentMessage message;
    message.mutable_event()->mutable_usage()->set_session_key("u1");
    message.mutable_event()->mutable_usage()->set_rx_bytes(rx);
    agent.Send(message);
  };
  report(0);
  EXPECT_TRUE(WaitFor([&] {
    return QueryInt(
               "SELECT count(*) FROM sessions WHERE session_key = 'u1' "
               "AND last_seen_at > opened_at") == 1;
  }));
  EXPECT_EQ(QueryInt("SELECT count(*) FROM sessions WHERE last_traffic_at IS NOT NULL"), 0);
  report(4096);
  EXPECT_TRUE(WaitFor([&] {
    return QueryInt(
               "SELECT count(*) FROM sessions WHERE session_key = 'u1' "
               "AND last_traffic_at IS NOT NULL") == 1;
  }));
}

TEST_F(PlansTest, AnExpiredAccountIsEndedAndRefusedAndAnnouncedBeforehand) {
  v1::CreateUserRequest request;
  request.mutable_user()->set_username("max");
  absl::Time expires = clock_.Now() + absl::Hours(24);
  request.mutable_user()->mutable_expires_at()->set_seconds(absl::ToUnixSeconds(expires));
  v1::User max;
  ASSERT_TRUE(fleet_->admin().CreateUser(fleet_->AdminContext().get(), request, &max).ok());
  TestNode ams = Node("ams-1", "eu");
  ASSERT_TRUE(Admit(ams, "max", "m1").has_admitted());
  EXPECT_TRUE(WaitFor([&] {
    return QueryInt("SELECT count(*) FROM audit_events WHERE action = 'user.expiring'") == 1;
  })) << "within the 72 h warning";
  clock_.Advance(absl::Hours(25));
  EXPECT_TRUE(WaitFor([&] { return State("m1") == "closing:account_expired"; })) << State("m1");
  v1::AdmitResponse again = Admit(ams, "max", "m2");
  ASSERT_TRUE(again.has_denied());
  EXPECT_EQ(again.denied().reason(), v1::ACCOUNT_EXPIRED);
  EXPECT_EQ(QueryInt("SELECT count(*) FROM audit_events WHERE action = 'user.expiring'"), 1)
      << "announced once";
}

TEST_F(PlansTest, AnExpiredDeviceIsEndedAndRefused) {
  fleet_->CreateUser("ned", 0);
  std::string bytes(32, '\x07');
  const std::string key = absl::Base64Escape(bytes);
  v1::RegisterDeviceRequest device;
  device.set_username("ned");
  device.set_public_key(key);
  device.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(clock_.Now() + absl::Hours(1)));
  v1::Device registered;
  ASSERT_TRUE(
      fleet_->admin().RegisterDevice(fleet_->AdminContext().get(), device, &registered).ok());
  EXPECT_TRUE(registered.has_expires_at());
  TestNode wg = fleet_->CreateNode("wg-1", NodeTrust::kUntrusted);
  FakeAgent agent(fleet_->agent(), wg.credential, {"wireguard"});
  ASSERT_TRUE(agent.welcomed());
  ASSERT_TRUE(Admit(wg, "ned", "wg:" + key, v1::WIREGUARD).has_admitted());
  clock_.Advance(absl::Hours(2));
  EXPECT_TRUE(WaitFor([&] { return State("wg:" + key) == "closing:device_expired"; }));
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(wg, "wg:" + key, &closed).ok());
  EXPECT_EQ(Admit(wg, "ned", "wg:" + key, v1::WIREGUARD).denied().reason(), v1::DEVICE_EXPIRED);
}

}  // namespace
}  // namespace warden::testing
