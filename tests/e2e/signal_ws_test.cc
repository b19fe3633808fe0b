// The signalling WebSocket bridge of the real warden-control binary, driven
// by a real WebSocket client (node and the npm `ws` package), in one room
// with a gRPC client: they relay to each other across the two transports.
// And its limits: connections per address, frame sizes, slow readers, TLS.

#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/signal_client.h"
#include "tests/support/test_ca.h"

namespace warden::testing {
namespace {

constexpr char kScriptDir[] = WARDEN_SOURCE_DIR "/tests/e2e/signal_ws";

// Why a node client cannot run here ("" when it can).
std::string NodeMissing() {
  const std::string module = absl::StrCat(kScriptDir, "/node_modules/ws/package.json");
  if (::access("/usr/bin/env", X_OK) != 0 || std::system("node --version >/dev/null 2>&1") != 0) {
    return "node is not installed (./scripts/test installs it)";
  }
  if (::access(module.c_str(), R_OK) != 0) {
    return absl::StrCat("the npm package ws is not installed in ", kScriptDir,
                        " (./scripts/test runs npm ci there)");
  }
  return "";
}

class SignalWebSocketTest : public FleetProcessTest {
 protected:
  // Starts warden-control with the bridge on a free port; its port.
  int StartBridge(std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"--signal-ws-listen", "127.0.0.1:0"});
    control_ = &StartControl("ws", flags);
    const int port =
        WaitForLoggedNumber(*control_->process, {"over WebSocket on", "(port "}, absl::Seconds(10));
    EXPECT_GT(port, 0) << control_->process->Log();
    return port;
  }

  // Runs ws_limits_test.mjs with `args` (the mode first) and expects it to pass.
  void RunLimits(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"node", absl::StrCat(kScriptDir, "/ws_limits_test.mjs")};
    argv.insert(argv.end(), args.begin(), args.end());
    Process client("/usr/bin/env", argv, {}, absl::StrCat(work_dir_, "/ws-limits.log"));
    EXPECT_EQ(client.Wait(absl::Seconds(90)), 0) << client.Log() << control_->process->Log();
    EXPECT_NE(client.Log().find("PASS: " + args[0]), std::string::npos) << client.Log();
  }

  Control* control_ = nullptr;
};

TEST_F(SignalWebSocketTest, WebSocketAndGrpcClientsShareARoom) {
  if (std::string why = NodeMissing(); !why.empty()) GTEST_SKIP() << why;
  const int ws_port = StartBridge({});
  ASSERT_GT(ws_port, 0);
  Control& control = *control_;

  SignalClient grpc_member(grpc::CreateChannel(absl::StrCat("127.0.0.1:", control.port),
                                               grpc::InsecureChannelCredentials()),
                           kTestAdminKey);
  ASSERT_TRUE(grpc_member.Identify().ok());
  absl::StatusOr<v1::RoomState> room = grpc_member.CreateRoom("both transports");
  ASSERT_TRUE(room.ok()) << room.status();

  Process client("/usr/bin/env",
                 {"node", absl::StrCat(kScriptDir, "/ws_client_test.mjs"),
                  absl::StrCat("ws://127.0.0.1:", ws_port, "/v1/signal"), kTestAdminKey,
                  room->room_id(), absl::Base64Escape(grpc_member.public_key())},
                 {}, absl::StrCat(work_dir_, "/ws-client.log"));

  std::optional<v1::SignalEvent> joined = grpc_member.NextEvent(v1::SignalEvent::kMemberJoined);
  ASSERT_TRUE(joined.has_value()) << client.Log();
  const std::string ws_key = joined->member_joined().member().key();
  std::optional<v1::SignalEvent> relayed = grpc_member.NextEvent(v1::SignalEvent::kRelayed);
  ASSERT_TRUE(relayed.has_value()) << client.Log();
  EXPECT_EQ(relayed->relayed().payload(), "hello from websocket");
  EXPECT_EQ(relayed->relayed().from(), ws_key);
  EXPECT_EQ(*grpc_member.Relay(room->room_id(), ws_key, "hello from grpc"), 1);

  EXPECT_EQ(client.Wait(absl::Seconds(40)), 0) << client.Log() << control.process->Log();
  EXPECT_NE(client.Log().find("PASS: websocket bridge"), std::string::npos) << client.Log();
}

TEST_F(SignalWebSocketTest, ConnectionsPerAddressAreCapped) {
  if (std::string why = NodeMissing(); !why.empty()) GTEST_SKIP() << why;
  const int port = StartBridge({"--signal-ws-max-connections-per-address", "3"});
  ASSERT_GT(port, 0);
  RunLimits(
      {"per-address", absl::StrCat("ws://127.0.0.1:", port, "/v1/signal"), kTestAdminKey, "3"});
}

TEST_F(SignalWebSocketTest, OversizedFrameIsRefusedFromItsHeader) {
  if (std::string why = NodeMissing(); !why.empty()) GTEST_SKIP() << why;
  const int port = StartBridge({"--signal-ws-max-frame-bytes", "65536"});
  ASSERT_GT(port, 0);
  RunLimits({"frame", absl::StrCat("ws://127.0.0.1:", port, "/v1/signal"), kTestAdminKey});
}

TEST_F(SignalWebSocketTest, AReaderThatFallsBehindIsCutOffWhileOthersGoOn) {
  if (std::string why = NodeMissing(); !why.empty()) GTEST_SKIP() << why;
  const int port = StartBridge({"--signal-max-queued-bytes", "65536", "--signal-relay-rate", "0"});
  ASSERT_GT(port, 0);
  RunLimits({"slow-reader", absl::StrCat("ws://127.0.0.1:", port, "/v1/signal"), kTestAdminKey});
}

TEST_F(SignalWebSocketTest, ServesWssAndRefusesPlaintextOnTheTlsPort) {
  if (std::string why = NodeMissing(); !why.empty()) GTEST_SKIP() << why;
  if (std::string why = TestCa::UnusableReason(); !why.empty()) GTEST_SKIP() << why;
  TestCa ca;
  ASSERT_TRUE(ca.Create().ok());
  absl::StatusOr<TestCa::Files> server = ca.Server();
  ASSERT_TRUE(server.ok()) << server.status();
  const int port =
      StartBridge({"--signal-ws-tls-cert", server->cert, "--signal-ws-tls-key", server->key});
  ASSERT_GT(port, 0);
  RunLimits(
      {"tls", absl::StrCat("wss://127.0.0.1:", port, "/v1/signal"), kTestAdminKey, ca.ca_cert()});
}

}  // namespace
}  // namespace warden::testing
