#include "controlplane/services/signal_websocket_json.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"

namespace warden::control::services {
namespace {

constexpr uint64_t kMaxFrameBytes = 64 * 1024;

TEST(SignalWebSocketJsonTest, MapsTextFramesToRequests) {
  absl::StatusOr<v1::SignalRequest> request = SignalRequestFromJson(
      R"({"requestId":"7","joinRoom":{"roomId":"3f2c8a1e-7b4d-4e6a-9c2f-1a8b5d7e9f01",)"
      R"("password":"mesh-pw"}})",
      kMaxFrameBytes);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->request_id(), 7u);
  EXPECT_EQ(request->join_room().room_id(), "3f2c8a1e-7b4d-4e6a-9c2f-1a8b5d7e9f01");
  EXPECT_EQ(request->join_room().password(), "mesh-pw");

  // Field names as in the .proto are accepted too.
  request =
      SignalRequestFromJson(R"({"request_id":8,"leave_room":{"room_id":"r"}})", kMaxFrameBytes);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->leave_room().room_id(), "r");
}

TEST(SignalWebSocketJsonTest, RefusesWhatIsNotARequestAndOversizedFrames) {
  absl::StatusOr<v1::SignalRequest> request =
      SignalRequestFromJson("this is not json", kMaxFrameBytes);
  ASSERT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(request.status().message(), "not a SignalRequest in JSON: "));

  request = SignalRequestFromJson(R"({"noSuchField":1})", kMaxFrameBytes);
  EXPECT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);

  // The size is checked before the text is looked at.
  request = SignalRequestFromJson(std::string(101, '{'), 100);
  ASSERT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(request.status().message(), "a message may be at most 100 bytes");
}

TEST(SignalWebSocketJsonTest, PrintsEventsInTheJsonMapping) {
  v1::SignalEvent event;
  event.set_request_id(7);
  EXPECT_EQ(SignalEventToJson(event), R"({"requestId":"7"})");
}

}  // namespace
}  // namespace warden::control::services
