#include "controlplane/services/signal_websocket_json.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"

namespace warden::control::services {

absl::StatusOr<v1::SignalRequest> SignalRequestFromJson(absl::string_view frame,
                                                        uint64_t max_frame_bytes) {
  if (frame.size() > max_frame_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("a message may be at most ", max_frame_bytes, " bytes"));
  }
  v1::SignalRequest request;
  google::protobuf::util::JsonParseOptions options;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(frame.data(), frame.size()), &request, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a SignalRequest in JSON: ", status.message().as_string()));
  }
  return request;
}

std::string SignalEventToJson(const v1::SignalEvent& event) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  (void)google::protobuf::util::MessageToJsonString(event, &json, options);
  return json;
}

}  // namespace warden::control::services
