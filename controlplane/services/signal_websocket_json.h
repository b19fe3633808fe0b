#pragma once

// The signalling WebSocket's text frames, without a server: an incoming frame
// to the SignalRequest it carries (the protobuf JSON mapping), and a
// SignalEvent to the frame that carries it. Pure: no connection, no hub.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "warden/v1/signal.pb.h"

namespace warden::control::services {

// The request in one text frame. INVALID_ARGUMENT when the frame is longer
// than `max_frame_bytes` (checked before any parsing) or is not a
// SignalRequest in JSON; the message says which.
absl::StatusOr<v1::SignalRequest> SignalRequestFromJson(absl::string_view frame,
                                                        uint64_t max_frame_bytes);

// The text frame for one event.
std::string SignalEventToJson(const v1::SignalEvent& event);

}  // namespace warden::control::services
