// /metrics of the real binaries: warden-control and warden-agent (memory
// driver) on a real PostgreSQL, moved by connections, an eviction, a denial,
// and the control plane going away.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "tests/support/fleet_processes.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ::testing::StartsWith;
using Labels = std::map<std::string, std::string>;

class MetricsEndToEndTest : public FleetProcessTest {
 protected:
  // Waits until the metric at `port` reads `expected`.
  static bool WaitForValue(int port, const std::string& name, const Labels& labels,
                           double expected) {
    return WaitFor([&] {
      absl::StatusOr<PrometheusText> metrics = ScrapeMetrics(port);
      return metrics.ok() && metrics->Value(name, labels) == expected;
    });
  }
};

TEST_F(MetricsEndToEndTest, AgentAndControlPlaneCountTheSameWork) {
  Control& control = StartControl("a", {"--metrics-listen", "127.0.0.1:0"});
  Agent& agent = StartAgent(
      "node-1", control,
      {"--metrics-listen", "127.0.0.1:0", "--fail-mode", "open", "--fail-open-window", "600"});
  const int control_port = WaitForMetricsPort(*control.process, absl::Seconds(10));
  const int agent_port = WaitForMetricsPort(*agent.process, absl::Seconds(10));
  ASSERT_GT(control_port, 0) << control.process->Log();
  ASSERT_GT(agent_port, 0) << agent.process->Log();
  EXPECT_TRUE(WaitForValue(agent_port, "warden_agent_link_up", {}, 1));
  EXPECT_TRUE(WaitForValue(control_port, "warden_agent_streams_connected", {}, 1));

  CreateUser(control, "alice", 1);
  CreateUser(control, "bob", 1, 0, v1::REJECT);
  ASSERT_THAT(agent.driver().Open("a1", "alice"), StartsWith("admitted "));
  ASSERT_THAT(agent.driver().Open("a2", "alice"), StartsWith("admitted "));  // evicts a1
  ASSERT_THAT(agent.driver().Open("b1", "bob"), StartsWith("admitted "));
  ASSERT_THAT(agent.driver().Open("b2", "bob"), StartsWith("denied DEVICE_LIMIT_REACHED"));

  // The eviction's kill runs on the agent's driver and is acknowledged.
  EXPECT_TRUE(WaitForValue(agent_port, "warden_agent_driver_operations_total",
                           {{"operation", "kill_session"}, {"result", "ok"}}, 1));
  EXPECT_TRUE(WaitForValue(control_port, "warden_command_results_total",
                           {{"kind", "kill_session"}, {"result", "acked"}}, 1));
  // a1's close reaches the database: a2 and b1 stay.
  EXPECT_TRUE(WaitForValue(control_port, "warden_live_sessions", {{"protocol", "openvpn"}}, 2));

  absl::StatusOr<PrometheusText> on_agent = ScrapeMetrics(agent_port);
  ASSERT_TRUE(on_agent.ok()) << on_agent.status();
  EXPECT_EQ(on_agent->Value("warden_agent_admissions_total",
                            {{"result", "admitted"}, {"reason", "none"}}),
            3);
  EXPECT_EQ(on_agent->Value("warden_agent_admissions_total",
                            {{"result", "denied"}, {"reason", "device_limit_reached"}}),
            1);
  EXPECT_EQ(on_agent->Value("warden_agent_admit_duration_seconds_count"), 4);
  EXPECT_EQ(on_agent->Value("warden_agent_link_attaches_total"), 1);
  EXPECT_EQ(on_agent->Value("warden_agent_events_dropped_total"), 0);
  EXPECT_TRUE(on_agent->Has("warden_agent_events_queued"));

  absl::StatusOr<PrometheusText> on_control = ScrapeMetrics(control_port);
  ASSERT_TRUE(on_control.ok()) << on_control.status();
  EXPECT_EQ(
      on_control->Value("warden_admissions_total", {{"result", "admitted"}, {"reason", "none"}}),
      3);
  EXPECT_EQ(on_control->Value("warden_admissions_total",
                              {{"result", "denied"}, {"reason", "device_limit_reached"}}),
            1);
  EXPECT_EQ(on_control->Value("warden_evictions_total"), 1);
  EXPECT_EQ(on_control->Value("warden_command_delivery_seconds_count", {{"kind", "kill_session"}}),
            1);

  // The control plane goes away: the link is down, and a recent user is let
  // in offline (fail-open) and counted so.
  control.process->Signal(SIGKILL);
  control.process->Wait(absl::Seconds(10));
  EXPECT_TRUE(WaitForValue(agent_port, "warden_agent_link_up", {}, 0));
  EXPECT_EQ(agent.driver().Open("a3", "alice"), "admitted offline");
  EXPECT_TRUE(WaitForValue(agent_port, "warden_agent_admissions_total",
                           {{"result", "admitted_offline"}, {"reason", "none"}}, 1));
}

}  // namespace
}  // namespace warden::testing
