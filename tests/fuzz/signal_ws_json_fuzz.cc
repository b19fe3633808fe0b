// libFuzzer target: the signalling WebSocket's text frames to SignalRequest.
//
// The input is one text frame. It maps to a request or to INVALID_ARGUMENT;
// a request prints as JSON that maps back to the same request, and the hub's
// checks on its body give OK or INVALID_ARGUMENT, never anything else.

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controlplane/services/signal_websocket_json.h"
#include "controlplane/signal/requests.h"
#include "tests/fuzz/fuzz_check.h"

namespace warden::control::services {
namespace {

// SignalWebSocketOptions' default.
constexpr uint64_t kMaxFrameBytes = 64 * 1024;

void CheckVerdict(const absl::Status& status) {
  FUZZ_CHECK_MSG(status.ok() || absl::IsInvalidArgument(status), status.ToString());
}

void CheckBody(const v1::SignalRequest& request) {
  switch (request.body_case()) {
    case v1::SignalRequest::kCreateRoom:
      CheckVerdict(signal::CheckCreateRoom(request.create_room(), absl::Hours(24)).status());
      break;
    case v1::SignalRequest::kJoinRoom:
      CheckVerdict(signal::CheckJoinRoom(request.join_room()));
      break;
    case v1::SignalRequest::kRelay:
      CheckVerdict(signal::CheckRelay(request.relay()));
      break;
    case v1::SignalRequest::kLeaveRoom:
      CheckVerdict(signal::CheckRoomId("room_id", request.leave_room().room_id()));
      break;
    case v1::SignalRequest::kRenameRoom:
      CheckVerdict(signal::CheckRoomId("room_id", request.rename_room().room_id()));
      CheckVerdict(signal::CheckRoomName("name", request.rename_room().name()));
      break;
    case v1::SignalRequest::kKick:
      CheckVerdict(signal::CheckMemberKey("member", request.kick().member()));
      break;
    default:
      break;
  }
}

}  // namespace
}  // namespace warden::control::services

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace warden::control::services;
  const absl::string_view frame(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<warden::v1::SignalRequest> request = SignalRequestFromJson(frame, kMaxFrameBytes);
  if (!request.ok()) {
    FUZZ_CHECK(absl::IsInvalidArgument(request.status()));
    FUZZ_CHECK(absl::StartsWith(request.status().message(), "not a SignalRequest in JSON: ") ||
               size > kMaxFrameBytes);
    return 0;
  }
  CheckBody(*request);

  std::string json;
  FUZZ_CHECK(google::protobuf::util::MessageToJsonString(*request, &json).ok());
  absl::StatusOr<warden::v1::SignalRequest> again = SignalRequestFromJson(json, UINT64_MAX);
  FUZZ_CHECK_MSG(again.ok(), again.status().ToString() + " from " + json);
  FUZZ_CHECK_MSG(google::protobuf::util::MessageDifferencer::Equals(*request, *again), json);
  return 0;
}
