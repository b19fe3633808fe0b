// What the QUIC tunnel promises in time and rate: a kill ends the client
// within a second, and a user's bandwidth budget holds within 10 %. These
// tests run alone (RUN_SERIAL): a rate or a latency measured while other
// tests take the CPU says more about the machine than about Warden.

#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/quic/tunnel_protocol.h"
#include "tests/e2e/quic/quic_tunnel_fixture.h"
#include "tests/e2e/quic/tunnel_meter.h"

namespace warden::testing {
namespace {

class QuicTimingTest : public QuicTunnelTest {};

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

// Three connections of one user send TCP as fast as they can, up, down and
// both ways; what the tunnel delivers to both ends in a common window (IP
// bytes the agent wrote into its device, plus what each client's device
// received: data and acknowledgements, after the budget) is the user's one
// budget. One window for all three, read from the devices, because three
// iperf3 runs started one after another measure three different ones.
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
      std::vector<std::string> args{"-c", rig_.gateway(), "-p", std::to_string(port), "-t", "10"};
      if (direction == std::string("down")) args.push_back("-R");
      if (direction == std::string("both")) args.push_back("--bidir");
      runs.push_back(rig_.StartInClient(clients[i], FindExecutable("iperf3"), args,
                                        absl::StrCat(work_dir_, "/iperf3-", direction, i, ".log")));
    }
    // The window closes before the first run ends.
    const double ip_bps = DeliveredRate(clients) * 8;
    for (size_t i = 0; i < runs.size(); ++i) {
      ASSERT_EQ(runs[i]->Wait(absl::Seconds(30)), 0) << runs[i]->Log();
      ASSERT_EQ(servers[i]->Wait(absl::Seconds(10)), 0) << servers[i]->Log();
    }
    std::cout << "shared budget " << direction << ": " << ip_bps << " bit/s\n";
    EXPECT_NEAR(ip_bps, kLimit * 8.0, kLimit * 8.0 * 0.10) << direction;
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
