#pragma once

// Checks on signalling requests, before anything touches a room. Each
// failure is INVALID_ARGUMENT naming the field and what it must be.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "warden/v1/signal.pb.h"

namespace warden::control::signal {

inline constexpr size_t kMaxRoomNameBytes = 64;
inline constexpr size_t kMaxPasswordBytes = 256;
inline constexpr int kMaxClients = 256;
inline constexpr int kDefaultMaxClients = 16;
inline constexpr absl::Duration kDefaultTtl = absl::Hours(1);
inline constexpr size_t kMaxPayloadBytes = 16 * 1024;

// Valid UTF-8 (no overlong forms, no surrogates).
bool IsUtf8(absl::string_view text);

absl::Status CheckRoomName(absl::string_view field, absl::string_view name);
absl::Status CheckRoomId(absl::string_view field, absl::string_view room_id);
absl::Status CheckMemberKey(absl::string_view field, absl::string_view key);

struct RoomSettings {
  std::string name;
  std::string password;  // "" = none
  int max_clients = kDefaultMaxClients;
  absl::Duration ttl = kDefaultTtl;
};
absl::StatusOr<RoomSettings> CheckCreateRoom(const v1::CreateRoomRequest& request,
                                             absl::Duration max_ttl);
absl::Status CheckJoinRoom(const v1::JoinRoomRequest& request);
absl::Status CheckRelay(const v1::RelayRequest& request);

}  // namespace warden::control::signal
