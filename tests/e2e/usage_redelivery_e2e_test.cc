// The usage ledger across a control-plane crash, with real warden-control
// processes on a real PostgreSQL: a sample whose batch committed just before
// the process was killed, so that the agent never learned it was applied,
// comes again after the restart and must count nothing the second time.

#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

class UsageRedeliveryE2ETest : public FleetProcessTest {
 protected:
  int64_t SessionColumn(const std::string& session_id, const std::string& column) const {
    return Query(absl::StrCat("SELECT ", column, " FROM sessions WHERE id = '", session_id, "'"));
  }
  int64_t Ledger(const std::string& table, const std::string& column) const {
    return Query(absl::StrCat("SELECT coalesce(sum(", column, "), 0) FROM ", table));
  }
};

TEST_F(UsageRedeliveryE2ETest, ASampleRepeatedAfterTheControlPlaneWasKilledCountsOnce) {
  Control& control = StartControl("a");
  auto fleet =
      std::make_unique<FleetClient>(grpc::CreateChannel(absl::StrCat("127.0.0.1:", control.port),
                                                        grpc::InsecureChannelCredentials()),
                                    kTestAdminKey);
  const TestNode node = fleet->CreateNode("vpn-1");
  fleet->CreateUser("rita", 2);
  auto agent = std::make_unique<FakeAgent>(fleet->agent(), node.credential,
                                           std::vector<std::string>{"openvpn"});
  ASSERT_TRUE(agent->welcomed());
  const v1::AdmitResponse admitted = fleet->AdmitAssertedOk(node, "rita", "ovpn:1");
  ASSERT_TRUE(admitted.has_admitted()) << admitted.DebugString();
  const std::string session_id = admitted.admitted().session_id();

  ASSERT_TRUE(agent->SendUsage(session_id, 1000, 2000, 100));
  ASSERT_TRUE(WaitFor([&] { return SessionColumn(session_id, "usage_sequence") == 100; }));
  // Committed; the process dies before the stream reads on.
  control.process->Signal(SIGKILL);
  ASSERT_NE(control.process->Wait(absl::Seconds(10)), -1);
  agent.reset();
  RestartControl(control);

  // The agent's Hello carries the session with its counters as they are
  // now, then what it had not seen acknowledged comes again: older than the
  // Hello's, so lower counters that must not pass for a server that started
  // over. Then a newer sample.
  fleet =
      std::make_unique<FleetClient>(grpc::CreateChannel(absl::StrCat("127.0.0.1:", control.port),
                                                        grpc::InsecureChannelCredentials()),
                                    kTestAdminKey);
  v1::InventorySession carried;
  carried.set_session_id(session_id);
  carried.set_session_key("ovpn:1");
  carried.set_protocol(v1::OPENVPN);
  carried.set_username("rita");
  carried.set_rx_bytes(1200);
  carried.set_tx_bytes(2300);
  carried.set_usage_sequence(150);
  agent = std::make_unique<FakeAgent>(fleet->agent(), node.credential,
                                      std::vector<std::string>{"openvpn"},
                                      std::vector<v1::InventorySession>{carried});
  ASSERT_TRUE(agent->welcomed());
  ASSERT_TRUE(agent->SendUsage(session_id, 1000, 2000, 100));
  ASSERT_TRUE(agent->SendUsage(session_id, 1500, 2600, 200));
  ASSERT_TRUE(WaitFor([&] { return SessionColumn(session_id, "usage_sequence") == 200; }))
      << "usage_sequence " << SessionColumn(session_id, "usage_sequence");

  EXPECT_EQ(SessionColumn(session_id, "rx_bytes"), 1500);
  EXPECT_EQ(SessionColumn(session_id, "tx_bytes"), 2600);
  EXPECT_EQ(Ledger("usage_daily", "rx_bytes"), 1500);
  EXPECT_EQ(Ledger("usage_daily", "tx_bytes"), 2600);
  EXPECT_EQ(Ledger("usage_monthly", "rx_bytes"), 1500);
  EXPECT_EQ(Ledger("usage_monthly", "tx_bytes"), 2600);
  EXPECT_EQ(Query(absl::StrCat("SELECT count(*) FROM sessions WHERE id = '", session_id,
                               "' AND state = 'active'")),
            1);
}

}  // namespace
}  // namespace warden::testing
