// The signalling WebSocket bridge of the real warden-control binary, driven
// by a real WebSocket client (node and the npm `ws` package), in one room
// with a gRPC client: they relay to each other across the two transports.

#include <gtest/gtest.h>
#include <unistd.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/signal_client.h"

namespace warden::testing {
namespace {

constexpr char kScriptDir[] = WARDEN_SOURCE_DIR "/tests/e2e/signal_ws";

class SignalWebSocketTest : public FleetProcessTest {};

TEST_F(SignalWebSocketTest, WebSocketAndGrpcClientsShareARoom) {
  const std::string module = absl::StrCat(kScriptDir, "/node_modules/ws/package.json");
  if (::access("/usr/bin/env", X_OK) != 0 || std::system("node --version >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "node is not installed (./scripts/test installs it)";
  }
  if (::access(module.c_str(), R_OK) != 0) {
    GTEST_SKIP() << "the npm package ws is not installed in " << kScriptDir
                 << " (./scripts/test runs npm ci there)";
  }
  Control& control = StartControl("ws", {"--signal-ws-listen", "127.0.0.1:0"});
  const int ws_port =
      WaitForLoggedNumber(*control.process, {"over WebSocket on", "(port "}, absl::Seconds(10));
  ASSERT_GT(ws_port, 0) << control.process->Log();

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

}  // namespace
}  // namespace warden::testing
