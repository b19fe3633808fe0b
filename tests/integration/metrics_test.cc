// warden-control's /metrics over HTTP, moved by real admissions, evictions
// and kills on a real PostgreSQL (in process, agents on raw streams).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

class ControlMetricsTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.metrics_listen = "127.0.0.1:0";
    config.db_pool_size = 6;
  }
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
  }

  PrometheusText Scrape() {
    absl::StatusOr<PrometheusText> scraped = ScrapeMetrics(control_->metrics_port());
    EXPECT_TRUE(scraped.ok()) << scraped.status();
    return scraped.ok() ? *std::move(scraped) : PrometheusText();
  }
  double Admissions(const std::string& result, const std::string& reason) {
    return Scrape().Value("warden_admissions_total", {{"result", result}, {"reason", reason}});
  }
  // Waits until the metric has `expected` (kills are answered asynchronously).
  bool WaitForValue(const std::string& name, const std::map<std::string, std::string>& labels,
                    double expected) {
    return WaitFor([&] { return Scrape().Value(name, labels) == expected; });
  }

  std::unique_ptr<FleetClient> fleet_;
};

TEST_F(ControlMetricsTest, ExposesEveryFamilyFromTheStart) {
  ASSERT_GT(control_->metrics_port(), 0);
  PrometheusText metrics = Scrape();
  EXPECT_EQ(metrics.Type("warden_admissions_total"), "counter");
  EXPECT_EQ(metrics.Type("warden_admission_duration_seconds"), "histogram");
  EXPECT_EQ(metrics.Type("warden_command_delivery_seconds"), "histogram");
  EXPECT_EQ(metrics.Type("warden_db_pool_wait_seconds"), "histogram");
  EXPECT_EQ(metrics.Type("warden_db_failover_retries_total"), "counter");
  EXPECT_EQ(metrics.Type("warden_live_sessions"), "gauge");
  EXPECT_EQ(metrics.Value("warden_admissions_total", {{"result", "admitted"}, {"reason", "none"}}),
            0);
  EXPECT_EQ(metrics.Value("warden_evictions_total"), 0);
  EXPECT_EQ(metrics.Value("warden_commands_sent_total", {{"kind", "kill_session"}}), 0);
  EXPECT_EQ(metrics.Value("warden_agent_streams_connected"), 0);
  EXPECT_EQ(metrics.Value("warden_schema_version"), control_->schema_version());
  EXPECT_EQ(metrics.Value("warden_db_pool_size", {{"pool", "primary"}}), 12)
      << "6 libpqxx and 6 pipelined";
  EXPECT_EQ(metrics.Value("warden_db_pool_waiting", {{"pool", "primary"}}), 0);
  EXPECT_FALSE(metrics.Has("warden_db_pool_size", {{"pool", "reads"}}))
      << "no --database-read-url, no read pool";
  EXPECT_EQ(metrics.Value("warden_live_sessions", {{"protocol", "wireguard"}}), 0);
}

TEST_F(ControlMetricsTest, CountersMoveWithAdmissionsEvictionsAndKills) {
  TestNode node = fleet_->CreateNode("ams-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  ASSERT_TRUE(agent.welcomed());
  EXPECT_TRUE(WaitForValue("warden_agent_streams_connected", {}, 1));
  fleet_->CreateUser("alice", 1, v1::EVICT_OLDEST);
  fleet_->CreateUser("bob", 1, v1::REJECT);
  const double pool_waits_before =
      Scrape().Value("warden_db_pool_wait_seconds_count", {{"pool", "primary"}});

  ASSERT_TRUE(fleet_->AdmitAssertedOk(node, "alice", "ovpn:a:1").has_admitted());
  ASSERT_TRUE(fleet_->AdmitAssertedOk(node, "alice", "ovpn:a:2").has_admitted());  // evicts a:1
  ASSERT_TRUE(fleet_->AdmitAssertedOk(node, "bob", "ovpn:b:1").has_admitted());
  EXPECT_EQ(fleet_->AdmitAssertedOk(node, "bob", "ovpn:b:2").denied().reason(),
            v1::DEVICE_LIMIT_REACHED);
  EXPECT_EQ(fleet_->AdmitAssertedOk(node, "nobody", "ovpn:n:1").denied().reason(),
            v1::BAD_CREDENTIALS);

  PrometheusText metrics = Scrape();
  EXPECT_EQ(metrics.Value("warden_admissions_total", {{"result", "admitted"}, {"reason", "none"}}),
            3);
  EXPECT_EQ(metrics.Value("warden_admissions_total",
                          {{"result", "denied"}, {"reason", "device_limit_reached"}}),
            1);
  EXPECT_EQ(metrics.Value("warden_admissions_total",
                          {{"result", "denied"}, {"reason", "bad_credentials"}}),
            1);
  EXPECT_EQ(metrics.Value("warden_evictions_total"), 1);
  EXPECT_EQ(metrics.Value("warden_admission_duration_seconds_count"), 5);
  EXPECT_GT(metrics.Value("warden_admission_duration_seconds_sum"), 0);
  EXPECT_GT(metrics.Value("warden_db_pool_wait_seconds_count", {{"pool", "primary"}}),
            pool_waits_before);
  // a:1 is closing until its node reports it gone: three not closed.
  EXPECT_EQ(metrics.Value("warden_live_sessions", {{"protocol", "openvpn"}}), 3);

  std::optional<v1::Command> kill = agent.WaitForCommand(
      [](const v1::Command& command) { return command.kind() == v1::KILL_SESSION; });
  ASSERT_TRUE(kill.has_value());
  EXPECT_TRUE(WaitForValue("warden_commands_sent_total", {{"kind", "kill_session"}}, 1));
  agent.Ack(kill->id());
  EXPECT_TRUE(WaitForValue("warden_command_results_total",
                           {{"kind", "kill_session"}, {"result", "acked"}}, 1));
  metrics = Scrape();
  EXPECT_EQ(metrics.Value("warden_command_delivery_seconds_count", {{"kind", "kill_session"}}), 1);
  EXPECT_EQ(metrics.Value("warden_command_results_total",
                          {{"kind", "kill_session"}, {"result", "failed"}}),
            0);

  v1::CloseSessionResponse closed;
  ASSERT_TRUE(fleet_->Close(node, "ovpn:a:1", &closed, "killed").ok());
  EXPECT_EQ(Scrape().Value("warden_live_sessions", {{"protocol", "openvpn"}}), 2);
}

TEST_F(ControlMetricsTest, FailedKillsAreCountedApart) {
  TestNode node = fleet_->CreateNode("ams-1");
  FakeAgent agent(fleet_->agent(), node.credential, {"openvpn"});
  fleet_->CreateUser("carol", 0);
  v1::AdmitResponse admitted = fleet_->AdmitAssertedOk(node, "carol", "ovpn:c:1");
  ASSERT_TRUE(admitted.has_admitted());

  v1::KillSessionRequest request;
  request.set_session_id(admitted.admitted().session_id());
  request.set_reason("test");
  v1::KillSessionResponse response;
  ASSERT_TRUE(fleet_->admin().KillSession(fleet_->AdminContext().get(), request, &response).ok());
  std::optional<v1::Command> kill = agent.WaitForCommand(
      [](const v1::Command& command) { return command.kind() == v1::KILL_SESSION; });
  ASSERT_TRUE(kill.has_value());
  agent.Fail(kill->id(), "no such client on the management socket");
  EXPECT_TRUE(WaitForValue("warden_command_results_total",
                           {{"kind", "kill_session"}, {"result", "failed"}}, 1));
  EXPECT_EQ(Scrape().Value("warden_command_results_total",
                           {{"kind", "kill_session"}, {"result", "acked"}}),
            0);
}

}  // namespace
}  // namespace warden::testing
