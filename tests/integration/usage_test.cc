// The usage ledger and data quotas, against a real PostgreSQL through gRPC:
// nodes' samples counted exactly once (repeats, reordering after a
// reconnect, counters that start over), the day and month rows, the quota
// enforced on live sessions (DENY ends them, THROTTLE shapes QUIC and ends
// the rest), support's reset and grant, and the admin API over the ledger.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fake_agent.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

class UsageTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
    node_ = fleet_->CreateNode("vpn-1");
    Attach();
  }

  void Attach() {
    agent_.reset();
    agent_ = std::make_unique<FakeAgent>(fleet_->agent(), node_.credential,
                                         std::vector<std::string>{"openvpn", "quic"});
    ASSERT_TRUE(agent_->welcomed());
  }

  std::string AdmitOk(const std::string& username, const std::string& key,
                      v1::Protocol protocol = v1::OPENVPN) {
    v1::AdmitResponse response;
    grpc::Status status = fleet_->AdmitAsserted(node_, username, key, &response, protocol);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.has_admitted()) << response.DebugString();
    return response.admitted().session_id();
  }

  // A sample on the stream (of the session with this id, or with this key
  // when `session_id` is empty), and the wait until the ledger applied it.
  void Report(const std::string& session_id, int64_t rx, int64_t tx, int64_t sequence,
              const std::string& session_key = "") {
    const double applied_before = Metric("warden_usage_samples_total", {{"result", "applied"}});
    ASSERT_TRUE(agent_->SendUsage(session_id, rx, tx, sequence, session_key));
    ASSERT_TRUE(WaitFor([&] {
      return Metric("warden_usage_samples_total", {{"result", "applied"}}) > applied_before;
    }));
  }

  int64_t SessionBytes(const std::string& session_id, const std::string& column) {
    return QueryInt(absl::StrCat("SELECT ", column, " FROM sessions WHERE id = '", session_id, "'"));
  }
  int64_t Ledger(const std::string& table, const std::string& user_id, const std::string& column) {
    return QueryInt(absl::StrCat("SELECT coalesce(sum(", column, "), 0) FROM ", table,
                                 " WHERE user_id = '", user_id, "'"));
  }
  int64_t Audited(const std::string& action, const std::string& user_id,
                  const std::string& condition = "true") {
    return QueryInt(absl::StrCat("SELECT count(*) FROM audit_events WHERE action = '", action,
                                 "' AND subject = 'user:", user_id, "' AND ", condition));
  }
  void SetQuota(const std::string& user_id, int64_t bytes, const std::string& action = "deny",
                int64_t throttle = 0) {
    ExecSql(absl::StrCat("UPDATE users SET data_quota_bytes = ", bytes, ", on_quota_exceeded = '",
                         action, "', throttle_bytes_per_second = ",
                         throttle > 0 ? absl::StrCat(throttle) : "NULL", " WHERE id = '", user_id,
                         "'"));
  }
  std::optional<v1::Command> WaitForKill(const std::string& session_id) {
    return agent_->WaitForCommand([&](const v1::Command& command) {
      return command.kind() == v1::KILL_SESSION && command.session_id() == session_id;
    });
  }

  std::unique_ptr<FleetClient> fleet_;
  TestNode node_;
  std::unique_ptr<FakeAgent> agent_;
};

TEST_F(UsageTest, ARepeatedSampleCountsOnce) {
  const v1::User alice = fleet_->CreateUser("alice", 2);
  const std::string session = AdmitOk("alice", "ovpn:1");
  Report(session, 1000, 500, 10);
  Report(session, 1000, 500, 10);
  Report(session, 1500, 700, 11);
  Report(session, 1500, 700, 11);
  EXPECT_EQ(SessionBytes(session, "rx_bytes"), 1500);
  EXPECT_EQ(SessionBytes(session, "tx_bytes"), 700);
  EXPECT_EQ(Ledger("usage_daily", alice.id(), "rx_bytes"), 1500);
  EXPECT_EQ(Ledger("usage_daily", alice.id(), "tx_bytes"), 700);
  EXPECT_EQ(Ledger("usage_monthly", alice.id(), "rx_bytes"), 1500);
  EXPECT_EQ(Ledger("usage_monthly", alice.id(), "tx_bytes"), 700);
}

TEST_F(UsageTest, ASampleNamingOnlyItsKeyCountsForTheLiveSession) {
  const v1::User kim = fleet_->CreateUser("kim", 2);
  const std::string session = AdmitOk("kim", "ovpn:7");
  Report("", 4000, 1000, 5, "ovpn:7");
  Report(session, 4500, 1200, 6);
  EXPECT_EQ(SessionBytes(session, "rx_bytes"), 4500);
  EXPECT_EQ(Ledger("usage_daily", kim.id(), "tx_bytes"), 1200);
  // A key no live session has counts for no one.
  Report("", 9000, 9000, 7, "ovpn:unknown");
  EXPECT_EQ(Ledger("usage_daily", kim.id(), "rx_bytes"), 4500);
}

TEST_F(UsageTest, AnOlderSampleAfterAReconnectCountsNothing) {
  const v1::User bob = fleet_->CreateUser("bob", 2);
  const std::string session = AdmitOk("bob", "ovpn:1");
  Report(session, 5000, 5000, 20);
  // The agent reconnects and sends what it had queued before the newer one.
  v1::InventorySession carried;
  carried.set_session_id(session);
  carried.set_session_key("ovpn:1");
  carried.set_protocol(v1::OPENVPN);
  carried.set_username("bob");
  carried.set_rx_bytes(5000);
  carried.set_tx_bytes(5000);
  carried.set_usage_sequence(20);
  agent_.reset();
  agent_ = std::make_unique<FakeAgent>(fleet_->agent(), node_.credential,
                                       std::vector<std::string>{"openvpn", "quic"},
                                       std::vector<v1::InventorySession>{carried});
  ASSERT_TRUE(agent_->welcomed());
  Report(session, 3000, 3000, 15);
  EXPECT_EQ(Ledger("usage_daily", bob.id(), "rx_bytes"), 5000);
  Report(session, 6000, 6500, 21);
  EXPECT_EQ(Ledger("usage_daily", bob.id(), "rx_bytes"), 6000);
  EXPECT_EQ(Ledger("usage_daily", bob.id(), "tx_bytes"), 6500);
  EXPECT_EQ(SessionBytes(session, "rx_bytes"), 6000);
}

TEST_F(UsageTest, ASessionAdoptedBackAfterItsNodeWasLostIsNotCountedTwice) {
  const v1::User nora = fleet_->CreateUser("nora", 2);
  const std::string session = AdmitOk("nora", "ovpn:3");
  Report(session, 5000, 1000, 30);
  // The node was silent too long: its sessions were closed as node_lost.
  ExecSql(absl::StrCat("UPDATE sessions SET state = 'closed', closed_at = now(), "
                       "close_reason = 'node_lost' WHERE id = '",
                       session, "'"));
  v1::InventorySession carried;
  carried.set_session_id(session);
  carried.set_session_key("ovpn:3");
  carried.set_protocol(v1::OPENVPN);
  carried.set_username("nora");
  carried.set_rx_bytes(5600);
  carried.set_tx_bytes(1100);
  carried.set_usage_sequence(40);
  agent_.reset();
  agent_ = std::make_unique<FakeAgent>(fleet_->agent(), node_.credential,
                                       std::vector<std::string>{"openvpn", "quic"},
                                       std::vector<v1::InventorySession>{carried});
  ASSERT_TRUE(agent_->welcomed());
  ASSERT_EQ(agent_->welcome().adopted_size(), 1);
  EXPECT_EQ(Ledger("usage_daily", nora.id(), "rx_bytes"), 5600);
  EXPECT_EQ(Ledger("usage_daily", nora.id(), "tx_bytes"), 1100);
  Report(agent_->welcome().adopted(0).session_id(), 6000, 1200, 41);
  EXPECT_EQ(Ledger("usage_daily", nora.id(), "rx_bytes"), 6000);
}

TEST_F(UsageTest, CountersThatStartOverCountFromZero) {
  const v1::User carol = fleet_->CreateUser("carol", 2);
  const std::string session = AdmitOk("carol", "wg:carol-laptop");
  Report(session, 10000, 2000, 1);
  // The VPN server restarted: its counters begin again at zero.
  Report(session, 300, 100, 2);
  Report(session, 800, 400, 3);
  EXPECT_EQ(SessionBytes(session, "rx_bytes"), 10800);
  EXPECT_EQ(SessionBytes(session, "tx_bytes"), 2400);
  EXPECT_EQ(Ledger("usage_daily", carol.id(), "rx_bytes"), 10800);
  EXPECT_EQ(Ledger("usage_daily", carol.id(), "tx_bytes"), 2400);
}

TEST_F(UsageTest, TheFinalCountersOfAClosedSessionAreCounted) {
  const v1::User dave = fleet_->CreateUser("dave", 2);
  const std::string session = AdmitOk("dave", "ovpn:9");
  Report(session, 100, 100, 1);
  v1::AgentMessage message;
  v1::SessionClosed* closed = message.mutable_event()->mutable_closed();
  closed->set_session_id(session);
  closed->set_session_key("ovpn:9");
  closed->set_reason("client disconnected");
  closed->set_rx_bytes(250);
  closed->set_tx_bytes(300);
  closed->set_usage_sequence(2);
  ASSERT_TRUE(agent_->Send(message));
  ASSERT_TRUE(WaitFor([&] {
    return QueryInt(absl::StrCat("SELECT count(*) FROM sessions WHERE id = '", session,
                                 "' AND state = 'closed'")) == 1;
  }));
  EXPECT_EQ(SessionBytes(session, "rx_bytes"), 250);
  EXPECT_EQ(SessionBytes(session, "tx_bytes"), 300);
  EXPECT_EQ(Ledger("usage_daily", dave.id(), "rx_bytes"), 250);
  EXPECT_EQ(QueryInt(absl::StrCat("SELECT (details->>'tx_bytes')::bigint FROM audit_events "
                                  "WHERE action = 'session.close' AND subject = 'session:",
                                  session, "'")),
            300);
  // A late repeat of an earlier sample changes nothing.
  Report(session, 100, 100, 1);
  EXPECT_EQ(Ledger("usage_daily", dave.id(), "rx_bytes"), 250);
}

TEST_F(UsageTest, CrossingTheQuotaEndsEverySessionOfTheUser) {
  const v1::User erin = fleet_->CreateUser("erin", 3);
  SetQuota(erin.id(), 10000);
  const std::string first = AdmitOk("erin", "ovpn:1");
  const std::string second = AdmitOk("erin", "quic:1", v1::QUIC);
  Report(first, 3000, 2000, 1);
  EXPECT_EQ(Audited("quota.threshold", erin.id()), 0);
  Report(second, 2000, 1500, 1);  // 8500 of 10000
  EXPECT_EQ(Audited("quota.threshold", erin.id(), "details->>'percent' = '80'"), 1);
  EXPECT_EQ(agent_->CountCommands(
                [](const v1::Command& command) { return command.kind() == v1::KILL_SESSION; }),
            0)
      << "80 % is a warning, not an end";
  Report(first, 4000, 2600, 2);  // 10100
  std::optional<v1::Command> kill_first = WaitForKill(first);
  std::optional<v1::Command> kill_second = WaitForKill(second);
  ASSERT_TRUE(kill_first.has_value());
  ASSERT_TRUE(kill_second.has_value());
  EXPECT_EQ(kill_first->reason(), "quota_exceeded");
  EXPECT_EQ(Audited("quota.threshold", erin.id(), "details->>'percent' = '100'"), 1);
  EXPECT_EQ(Audited("quota.exceeded", erin.id()), 1);
  EXPECT_EQ(Audited("quota.threshold", erin.id()), 2) << "each threshold once";
}

TEST_F(UsageTest, ThrottleShapesQuicTunnelsAndEndsTheOthers) {
  const v1::User frank = fleet_->CreateUser("frank", 3);
  SetQuota(frank.id(), 10000, "throttle", 65536);
  const std::string quic = AdmitOk("frank", "quic:1", v1::QUIC);
  const std::string openvpn = AdmitOk("frank", "ovpn:1");
  Report(quic, 9000, 2000, 1);
  std::optional<v1::Command> throttled = agent_->WaitForCommand([&](const v1::Command& command) {
    return command.kind() == v1::SET_BANDWIDTH && command.user_id() == frank.id();
  });
  ASSERT_TRUE(throttled.has_value());
  EXPECT_EQ(throttled->bandwidth_bytes_per_second(), 65536);
  std::optional<v1::Command> kill = WaitForKill(openvpn);
  ASSERT_TRUE(kill.has_value());
  EXPECT_EQ(kill->reason(), "quota_exceeded");
  EXPECT_EQ(agent_->CountCommands([&](const v1::Command& command) {
    return command.kind() == v1::KILL_SESSION && command.session_id() == quic;
  }),
            0)
      << "the QUIC tunnel is shaped, not ended";

  // Support grants more: the user is let go and the tunnel gets its
  // bandwidth back (unlimited here).
  v1::GrantExtraQuotaRequest grant;
  grant.set_user_id(frank.id());
  grant.set_bytes(100000);
  grant.set_reason("goodwill");
  v1::QuotaStatus status;
  grpc::Status granted = fleet_->admin().GrantExtraQuota(Context().get(), grant, &status);
  ASSERT_TRUE(granted.ok()) << granted.error_message();
  EXPECT_FALSE(status.held());
  EXPECT_EQ(status.granted_bytes(), 100000);
  EXPECT_EQ(status.remaining_bytes(), 110000 - 11000);
  EXPECT_THAT(status.note(), HasSubstr("QUIC"));
  std::optional<v1::Command> restored = agent_->WaitForCommand([&](const v1::Command& command) {
    return command.kind() == v1::SET_BANDWIDTH && command.user_id() == frank.id() &&
           command.bandwidth_bytes_per_second() == 0;
  });
  EXPECT_TRUE(restored.has_value());
  EXPECT_EQ(Audited("usage.grant", frank.id()), 1);
  EXPECT_EQ(Audited("quota.released", frank.id()), 1);
}

TEST_F(UsageTest, AResetForgetsTheWindowSoFarButNotTheLedger) {
  const v1::User gina = fleet_->CreateUser("gina", 2);
  SetQuota(gina.id(), 1000000);
  const std::string session = AdmitOk("gina", "ovpn:1");
  Report(session, 300000, 200000, 1);
  v1::ResetUsageRequest reset;
  reset.set_user_id(gina.id());
  reset.set_reason("billing error");
  v1::QuotaStatus status;
  grpc::Status done = fleet_->admin().ResetUsage(Context().get(), reset, &status);
  ASSERT_TRUE(done.ok()) << done.error_message();
  EXPECT_EQ(status.used_bytes(), 0);
  EXPECT_EQ(status.remaining_bytes(), 1000000);
  Report(session, 400000, 250000, 2);
  v1::GetUsageRequest request;
  request.set_user_id(gina.id());
  v1::GetUsageResponse usage;
  done = fleet_->admin().GetUsage(Context().get(), request, &usage);
  ASSERT_TRUE(done.ok()) << done.error_message();
  EXPECT_EQ(usage.quota().used_bytes(), 150000) << "only what came after the reset";
  EXPECT_EQ(usage.rx_bytes(), 400000) << "the ledger keeps everything";
  EXPECT_EQ(usage.tx_bytes(), 250000);
  EXPECT_EQ(Audited("usage.reset", gina.id()), 1);
}

TEST_F(UsageTest, GetUsageSplitsPeriodsByProtocolAndNode) {
  const v1::User hank = fleet_->CreateUser("hank", 3);
  const std::string openvpn = AdmitOk("hank", "ovpn:1");
  const std::string quic = AdmitOk("hank", "quic:1", v1::QUIC);
  Report(openvpn, 1000, 2000, 1);
  Report(quic, 30000, 40000, 1);
  // Yesterday's traffic, as the ledger kept it then.
  ExecSql(absl::StrCat("INSERT INTO usage_daily VALUES ('", hank.id(),
                       "', (now() AT TIME ZONE 'UTC')::date - 1, '", node_.node.id(),
                       "', 'openvpn', 7, 8)"));
  const absl::CivilDay today = absl::ToCivilDay(absl::Now(), absl::UTCTimeZone());
  v1::GetUsageRequest request;
  request.set_user_id(hank.id());
  request.set_from(absl::FormatCivilTime(today - 1));
  v1::GetUsageResponse usage;
  grpc::Status status = fleet_->admin().GetUsage(Context().get(), request, &usage);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(usage.periods_size(), 2);
  EXPECT_EQ(usage.periods(0).start(), absl::FormatCivilTime(today - 1));
  EXPECT_EQ(usage.periods(0).rx_bytes(), 7);
  const v1::UsagePeriod& now = usage.periods(1);
  EXPECT_EQ(now.rx_bytes(), 31000);
  EXPECT_EQ(now.tx_bytes(), 42000);
  ASSERT_EQ(now.by_protocol_size(), 2);
  ASSERT_EQ(now.by_node_size(), 2);
  EXPECT_EQ(now.by_node(0).node_name(), "vpn-1");
  EXPECT_EQ(usage.rx_bytes(), 31007);
  EXPECT_EQ(usage.quota().quota_bytes(), 0) << "no quota";

  request.set_from("12/01/2026");
  status = fleet_->admin().GetUsage(Context().get(), request, &usage);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("YYYY-MM-DD"));
}

TEST_F(UsageTest, TopUsersAndTheFleetsDayAreCounted) {
  fleet_->CreateUser("ivy", 2);
  fleet_->CreateUser("jack", 2);
  Report(AdmitOk("ivy", "ovpn:1"), 100, 100, 1);
  Report(AdmitOk("jack", "ovpn:2"), 5000, 5000, 1);
  v1::ListTopUsersRequest request;
  request.set_granularity(v1::MONTH);
  request.set_limit(1);
  v1::ListTopUsersResponse top;
  grpc::Status status = fleet_->admin().ListTopUsers(Context().get(), request, &top);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(top.users_size(), 1);
  EXPECT_EQ(top.users(0).username(), "jack");
  EXPECT_EQ(top.users(0).rx_bytes(), 5000);

  v1::Stats stats;
  status = fleet_->admin().GetStats(Context().get(), v1::GetStatsRequest(), &stats);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(stats.traffic_rx_bytes_today(), 5100);
  EXPECT_EQ(stats.traffic_tx_bytes_today(), 5100);
  EXPECT_EQ(Metric("warden_traffic_bytes_total", {{"direction", "rx"}, {"protocol", "openvpn"}}),
            5100);
}

TEST_F(UsageTest, DeletingAUserDeletesTheirUsageByDay) {
  const v1::User zoe = fleet_->CreateUser("zoe", 2);
  ExecSql(absl::StrCat("INSERT INTO usage_daily VALUES ('", zoe.id(),
                       "', (now() AT TIME ZONE 'UTC')::date, '", node_.node.id(),
                       "', 'openvpn', 1, 1)"));
  v1::DeleteUserRequest request;
  request.set_id(zoe.id());
  v1::DeleteUserResponse response;
  ASSERT_TRUE(Admin()->DeleteUser(Context().get(), request, &response).ok());
  EXPECT_EQ(
      QueryInt(absl::StrCat("SELECT count(*) FROM usage_daily WHERE user_id = '", zoe.id(), "'")),
      0);
}

// The ledger's sweep, run often: windows that moved on without traffic.
class UsageSweepTest : public UsageTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    config.quota_sweep_interval = absl::Milliseconds(100);
  }
};

TEST_F(UsageSweepTest, AHeldUserWhoseWindowMovedOnIsReleasedWithoutTraffic) {
  const v1::User lena = fleet_->CreateUser("lena", 2);
  SetQuota(lena.id(), 10000, "throttle", 4096);
  ExecSql(absl::StrCat("UPDATE users SET quota_period_days = 1 WHERE id = '", lena.id(), "'"));
  const std::string quic = AdmitOk("lena", "quic:1", v1::QUIC);
  Report(quic, 8000, 4000, 1);
  ASSERT_TRUE(agent_->WaitForCommand([&](const v1::Command& command) {
    return command.kind() == v1::SET_BANDWIDTH && command.bandwidth_bytes_per_second() == 4096;
  }));
  // Midnight passes: today's bytes become yesterday's, outside a one-day window.
  ExecSql(absl::StrCat("UPDATE usage_daily SET day = day - 1 WHERE user_id = '", lena.id(), "'"));
  EXPECT_TRUE(agent_->WaitForCommand([&](const v1::Command& command) {
    return command.kind() == v1::SET_BANDWIDTH && command.user_id() == lena.id() &&
           command.bandwidth_bytes_per_second() == 0;
  })) << "the tunnel gets its bandwidth back";
  EXPECT_TRUE(WaitFor([&] { return Audited("quota.released", lena.id()) == 1; }));
  EXPECT_EQ(QueryInt(absl::StrCat("SELECT count(*) FROM users WHERE id = '", lena.id(),
                                  "' AND NOT quota_exceeded AND quota_notified_percent = 0")),
            1);
}

}  // namespace
}  // namespace warden::testing
