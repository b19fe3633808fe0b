// What the QUIC tunnel promises in time and rate: a kill ends the client
// within a second, and a user's bandwidth budget holds within 10 %. These
// tests run alone (RUN_SERIAL): a rate or a latency measured while other
// tests take the CPU says more about the machine than about Warden.

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/quic/tunnel_protocol.h"
#include "tests/e2e/quic/quic_tunnel_fixture.h"

namespace warden::testing {
namespace {

class QuicTimingTest : public QuicTunnelTest {};

// IP bytes per TCP payload byte at the tunnel's MTU of 1380 (IP, TCP and
// timestamp headers take 52 bytes of each full segment).
constexpr double kTcpIpPerPayload = 1380.0 / (1380 - 52);

TEST_F(QuicTimingTest, KillSessionEndsTheClientWithinASecond) {
  CreateUserWithPassword("carol", 2);
  QuicRig::Client client = AddClient();
  Process& connected = Connect(client, PasswordCredential("carol"), "desk");
  ASSERT_TRUE(WaitConnected(connected)) << connected.Log();
  std::string session_id;
  for (int i = 0; i < 50 && session_id.empty(); ++i) {
    session_id = LiveQuicSessionId("carol");
    if (session_id.empty()) absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_FALSE(session_id.empty());

  v1::KillSessionRequest request;
  request.set_session_id(session_id);
  request.set_reason("policy violation");
  v1::KillSessionResponse response;
  const absl::Time asked = absl::Now();
  grpc::Status status = Admin(*control_)->KillSession(AdminContext().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(connected.Wait(absl::Seconds(1)), quic::kExitKilled) << connected.Log();
  EXPECT_LT(absl::Now() - asked, absl::Milliseconds(1500));
  EXPECT_TRUE(absl::StrContains(connected.Log(), "disconnected by administrator: policy violation"))
      << connected.Log();
}

// The bytes per second that receivers counted (sender == false streams) in
// the intervals starting at or after `skip_seconds`: the first seconds spend
// the budget's burst.
double ReceivedRate(const nlohmann::json& result, double skip_seconds) {
  double bytes = 0, first = -1, last = 0;
  if (!result.contains("intervals")) return 0;
  for (const auto& interval : result["intervals"]) {
    for (const auto& stream : interval["streams"]) {
      if (stream["sender"].get<bool>()) continue;
      const double start = stream["start"].get<double>();
      if (start + 1e-3 < skip_seconds) continue;
      bytes += stream["bytes"].get<double>();
      if (first < 0 || start < first) first = start;
      last = std::max(last, stream["end"].get<double>());
    }
  }
  return first < 0 || last <= first ? 0 : bytes / (last - first);
}

// Three connections of one user send TCP as fast as they can; what all
// receivers count (in IP bytes) is the user's one budget.
TEST_F(QuicTimingTest, OneBandwidthBudgetIsSharedByAllConnectionsOfAUser) {
  constexpr int64_t kLimit = 10'000'000 / 8;  // 10 Mbit/s
  CreateUserWithPassword("dave", 3, kLimit);
  std::vector<QuicRig::Client> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(AddClient());
    Process& connected = Connect(clients.back(), PasswordCredential("dave"), "d");
    ASSERT_TRUE(WaitConnected(connected)) << connected.Log();
  }
  int next_port = 5400;
  for (const std::string direction : {"up", "down", "both"}) {
    std::vector<std::unique_ptr<Process>> servers;
    std::vector<std::unique_ptr<Process>> runs;
    for (size_t i = 0; i < clients.size(); ++i) {
      const int port = next_port++;
      servers.push_back(IperfServer(port));
      std::vector<std::string> args{"-c", rig_.gateway(), "-p", std::to_string(port), "-t", "8",
                                    "-J"};
      if (direction == std::string("down")) args.push_back("-R");
      if (direction == std::string("both")) args.push_back("--bidir");
      runs.push_back(
          rig_.StartInClient(clients[i], FindExecutable("iperf3"), args,
                             absl::StrCat(work_dir_, "/iperf3-", direction, i, ".json")));
    }
    double total_ip_bps = 0;
    std::string reports;
    for (size_t i = 0; i < runs.size(); ++i) {
      ASSERT_EQ(runs[i]->Wait(absl::Seconds(30)), 0) << runs[i]->Log();
      ASSERT_EQ(servers[i]->Wait(absl::Seconds(10)), 0) << servers[i]->Log();
      for (Process* side : {runs[i].get(), servers[i].get()}) {
        nlohmann::json result =
            nlohmann::json::parse(side->Log(), nullptr, /*allow_exceptions=*/false);
        ASSERT_TRUE(result.is_object()) << side->Log();
        const double rate = ReceivedRate(result, 3) * 8 * kTcpIpPerPayload;
        total_ip_bps += rate;
        absl::StrAppend(&reports, " ", static_cast<int64_t>(rate));
      }
    }
    std::cout << "shared budget " << direction << ": " << total_ip_bps << " bit/s\n";
    EXPECT_NEAR(total_ip_bps, kLimit * 8.0, kLimit * 8.0 * 0.10)
        << direction << ": " << total_ip_bps << " bit/s in IP bytes; receivers:" << reports;
  }
}

// An UpdateUser reaches the budget of a live tunnel (SET_BANDWIDTH).
TEST_F(QuicTimingTest, ABandwidthChangeAppliesToLiveTunnels) {
  const v1::User user = CreateUserWithPassword("frank", 1, 5'000'000 / 8);
  QuicRig::Client client = AddClient();
  Process& connected = Connect(client, PasswordCredential("frank"), "f");
  ASSERT_TRUE(WaitConnected(connected)) << connected.Log();

  v1::UpdateUserRequest update;
  update.mutable_user()->set_id(user.id());
  update.mutable_user()->set_bandwidth_bytes_per_second(15'000'000 / 8);
  update.mutable_update_mask()->add_paths("bandwidth_bytes_per_second");
  v1::User updated;
  grpc::Status status = Admin(*control_)->UpdateUser(AdminContext().get(), update, &updated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(
      agent_->process->WaitForLog("bandwidth of user=frank is now 1875000", absl::Seconds(10)))
      << agent_->process->Log();

  auto server = IperfServer(5501);
  ExecResult run = rig_.InClient(
      client, {"iperf3", "-c", rig_.gateway(), "-p", "5501", "-t", "8", "-J"}, absl::Seconds(30));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  ASSERT_EQ(server->Wait(absl::Seconds(10)), 0) << server->Log();
  const double rate = ReceivedRate(nlohmann::json::parse(server->Log()), 3) * 8 * kTcpIpPerPayload;
  std::cout << "after the update: " << rate << " bit/s\n";
  EXPECT_NEAR(rate, 15e6, 1.5e6);
}

}  // namespace
}  // namespace warden::testing
