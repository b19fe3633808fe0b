// Data quotas on a real QUIC tunnel: what the agent counts reaches the
// usage ledger, and a user who runs out is ended (QUOTA_DENY) or shaped to
// the throttle rate (QUOTA_THROTTLE) while the tunnel carries traffic. Run
// alone (RUN_SERIAL) like the timing tests: they measure rates and delays.
//
// The agent samples a QUIC session's counters once a second and reports
// them at most every usage_interval (QuicOptions, 10 s, no flag), the first
// time 10 s after the tunnel opened. A crossing is therefore seen by the
// control plane at most 11 s after it happened, and settled there at once.

#include <signal.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/quic/tunnel_protocol.h"
#include "tests/e2e/quic/quic_tunnel_fixture.h"
#include "tests/e2e/quic/tunnel_meter.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

// The agent's usage report interval for QUIC plus its once-a-second sweep.
constexpr absl::Duration kReportDelay = absl::Seconds(10 + 1);
// Commit, settlement and the kill's delivery, on two busy cores.
constexpr absl::Duration kSettleMargin = absl::Seconds(5);

class QuicQuotaTest : public QuicTunnelTest {
 protected:
  // A user of one device, with a data quota (`quota_bytes`, 0 for none).
  // The bandwidth keeps iperf3 from taking both cores from the processes
  // whose timing the tests measure.
  void CreateQuotaUser(const std::string& username, int64_t quota_bytes, v1::QuotaAction action,
                       int64_t throttle_bytes_per_second = 0) {
    v1::CreateUserRequest request;
    v1::User* user = request.mutable_user();
    user->set_username(username);
    user->set_password(kPassword);
    user->set_max_connections(1);
    user->set_limit_policy(v1::EVICT_OLDEST);
    user->set_bandwidth_bytes_per_second(kBandwidth);
    user->set_data_quota_bytes(quota_bytes);
    if (quota_bytes > 0) user->set_on_quota_exceeded(action);
    if (throttle_bytes_per_second > 0) {
      user->set_throttle_bytes_per_second(throttle_bytes_per_second);
    }
    v1::User created;
    grpc::Status status = Admin(*control_)->CreateUser(AdminContext().get(), request, &created);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  std::string WaitForLiveSession(const std::string& username) {
    std::string session_id;
    WaitFor([&] { return !(session_id = LiveQuicSessionId(username)).empty(); });
    return session_id;
  }

  // What the agent's end of the tunnel carried so far: rx the packets it
  // wrote into its device (from clients), tx those it read (to clients).
  DeviceBytes ServerDevice() const {
    return DeviceCounters(ReadWholeFile("/proc/net/dev"), rig_.server_tun());
  }

  std::string SessionColumn(const std::string& session_id, const std::string& column) const {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    pqxx::result rows = tx.exec_params(
        absl::StrCat("SELECT coalesce(", column, "::text, '') FROM sessions WHERE id = $1"),
        session_id);
    return rows.empty() ? "" : rows[0][0].as<std::string>();
  }

  // An upload through `client`'s tunnel for up to `seconds`.
  std::unique_ptr<Process> Upload(const QuicRig::Client& client, int port, int seconds,
                                  const std::string& name) {
    return rig_.StartInClient(
        client, FindExecutable("iperf3"),
        {"-c", rig_.gateway(), "-p", std::to_string(port), "-t", std::to_string(seconds)},
        absl::StrCat(work_dir_, "/iperf3-", name, ".log"));
  }

  static constexpr int64_t kBandwidth = 2'000'000;  // B/s
};

TEST_F(QuicQuotaTest, AUserIsEndedWhenTheQuotaRunsOutMidSession) {
  constexpr int64_t kQuota = 4'000'000;
  CreateQuotaUser("quinn", kQuota, v1::QUOTA_DENY);
  const DeviceBytes before = ServerDevice();
  ASSERT_GE(before.rx, 0) << "no " << rig_.server_tun() << " in /proc/net/dev";
  QuicRig::Client client = AddClient();
  Process& connected = Connect(client, PasswordCredential("quinn"), "q");
  ASSERT_TRUE(WaitConnected(connected)) << connected.Log();
  const std::string session_id = WaitForLiveSession("quinn");
  ASSERT_FALSE(session_id.empty());

  auto server = IperfServer(5601, /*json=*/false);
  auto upload = Upload(client, 5601, 60, "quinn");
  // The moment the tunnel had carried the quota, as its device counted it
  // (what the agent counts: the IP packets both ways).
  absl::Time crossed = absl::InfinitePast();
  ASSERT_TRUE(WaitFor(
      [&] {
        const DeviceBytes now = ServerDevice();
        if (now.rx - before.rx + now.tx - before.tx < kQuota) return false;
        crossed = absl::Now();
        return true;
      },
      absl::Seconds(30)))
      << upload->Log();

  const int exit_code = connected.Wait(kReportDelay + kSettleMargin);
  const absl::Duration after_crossing = absl::Now() - crossed;
  std::cout << "quota crossed, client ended " << after_crossing << " later\n";
  EXPECT_EQ(exit_code, quic::kExitKilled) << connected.Log();
  EXPECT_TRUE(absl::StrContains(connected.Log(), "quota_exceeded")) << connected.Log();
  EXPECT_LT(after_crossing, kReportDelay + kSettleMargin);
  EXPECT_TRUE(WaitFor([&] { return SessionColumn(session_id, "state") == "closed"; }));
  EXPECT_EQ(SessionColumn(session_id, "close_reason"), "quota_exceeded");
  // Nothing passes the tunnel any more, and a new one is refused.
  EXPECT_FALSE(Ping(client, 1));
  Process& again = Connect(client, PasswordCredential("quinn"), "q2");
  EXPECT_EQ(again.Wait(absl::Seconds(20)), quic::kExitDenied) << again.Log();
}

TEST_F(QuicQuotaTest, AThrottledUserIsShapedToTheThrottleRate) {
  constexpr int64_t kQuota = 3'000'000;
  constexpr int64_t kThrottle = 256 * 1024;
  CreateQuotaUser("theo", kQuota, v1::QUOTA_THROTTLE, kThrottle);
  QuicRig::Client client = AddClient();
  Process& connected = Connect(client, PasswordCredential("theo"), "t");
  ASSERT_TRUE(WaitConnected(connected)) << connected.Log();
  const std::string session_id = WaitForLiveSession("theo");
  ASSERT_FALSE(session_id.empty());

  auto server = IperfServer(5602, /*json=*/false);
  auto upload = Upload(client, 5602, 60, "theo");
  ASSERT_TRUE(
      agent_->process->WaitForLog(absl::StrCat("bandwidth of user=theo is now ", kThrottle, " B/s"),
                                  kReportDelay + kSettleMargin + absl::Seconds(5)))
      << agent_->process->Log();
  const double rate = DeliveredRate({client});
  std::cout << "throttled: " << rate << " B/s (throttle " << kThrottle << " B/s)\n";
  EXPECT_NEAR(rate, kThrottle, kThrottle * 0.10);
  // Shaped, not ended.
  EXPECT_EQ(LiveQuicSessionId("theo"), session_id);
  EXPECT_EQ(upload->Wait(absl::ZeroDuration()), -1) << "iperf3 ended early:\n" << upload->Log();
}

// The ledger counts what the tunnel carried: the IP packets in it, both
// ways (not the QUIC/UDP around them, nor packets the agent dropped). After
// the client hangs up, the session's bytes (its final counters, reported
// with the close) match, to 1 %, what the agent wrote into its device (rx)
// and what the client wrote into its own (tx); and rx is at least iperf3's
// payload grown by the TCP/IP headers, at most one packet more per
// retransmitted segment.
TEST_F(QuicQuotaTest, TheLedgerCountsWhatTheTunnelCarried) {
  CreateQuotaUser("lena", 0, v1::QUOTA_DENY);
  const DeviceBytes before = ServerDevice();
  ASSERT_GE(before.rx, 0) << "no " << rig_.server_tun() << " in /proc/net/dev";
  QuicRig::Client client = AddClient();
  Process& connected = Connect(client, PasswordCredential("lena"), "l");
  ASSERT_TRUE(WaitConnected(connected)) << connected.Log();
  const std::string session_id = WaitForLiveSession("lena");
  ASSERT_FALSE(session_id.empty());

  auto server = IperfServer(5603);
  ExecResult run = rig_.InClient(
      client, {"iperf3", "-c", rig_.gateway(), "-p", "5603", "-t", "6", "-J"}, absl::Seconds(30));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_EQ(server->Wait(absl::Seconds(10)), 0) << server->Log();
  const int64_t payload =
      nlohmann::json::parse(server->Log())["end"]["sum_received"]["bytes"].get<int64_t>();
  // Segments the bandwidth budget dropped were sent again: the tunnel
  // carried each once, the QUIC layer saw the dropped ones too. A segment
  // sent again because its acknowledgement was late, not because it was
  // dropped, reaches the device twice: on a busy machine that is more than
  // 1 % of the payload.
  const nlohmann::json sent = nlohmann::json::parse(run.output.substr(run.output.find('{')));
  const int64_t retransmits = sent["end"]["sum_sent"]["retransmits"].get<int64_t>();
  // The client's device goes with warden-connect: read while it lives.
  const int64_t client_rx =
      RxBytes(rig_.InClient(client, {"cat", "/proc/net/dev"}).output, client.tun);
  ASSERT_GE(client_rx, 0) << "no " << client.tun << " in the client's /proc/net/dev";

  connected.Signal(SIGTERM);
  ASSERT_EQ(connected.Wait(absl::Seconds(10)), quic::kExitInterrupted) << connected.Log();
  ASSERT_TRUE(WaitFor([&] { return SessionColumn(session_id, "state") == "closed"; }));
  const int64_t server_rx = ServerDevice().rx - before.rx;
  const int64_t ledger_rx = std::stoll(SessionColumn(session_id, "rx_bytes"));
  const int64_t ledger_tx = std::stoll(SessionColumn(session_id, "tx_bytes"));
  const int64_t daily =
      Query(absl::StrCat("SELECT coalesce(sum(d.rx_bytes + d.tx_bytes), 0) FROM usage_daily d "
                         "JOIN users u ON u.id = d.user_id WHERE u.username = 'lena'"));
  const double expected_rx = static_cast<double>(payload) * kTcpIpPerPayload;
  std::cout << "iperf3 payload " << payload << " B (" << expected_rx << " B as IP packets), "
            << retransmits << " retransmits; ledger rx " << ledger_rx << " tx " << ledger_tx
            << " B; agent's device rx " << server_rx << " B; client's device rx " << client_rx
            << " B; usage_daily " << daily << " B\n";
  EXPECT_NEAR(ledger_rx, server_rx, server_rx * 0.01);
  EXPECT_NEAR(ledger_tx, client_rx, client_rx * 0.01);
  EXPECT_GE(ledger_rx, expected_rx * 0.99);
  EXPECT_LE(ledger_rx, expected_rx * 1.01 + static_cast<double>(retransmits) * kTunnelMtu);
  EXPECT_EQ(daily, ledger_rx + ledger_tx);
}

}  // namespace
}  // namespace warden::testing
