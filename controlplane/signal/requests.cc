#include "controlplane/signal/requests.h"

#include "absl/strings/str_cat.h"
#include "controlplane/signal/identity.h"

namespace warden::control::signal {

bool IsUtf8(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t code = 0;
    if (byte < 0x80) {
      ++i;
      continue;
    } else if ((byte & 0xE0) == 0xC0) {
      length = 2;
      code = byte & 0x1F;
    } else if ((byte & 0xF0) == 0xE0) {
      length = 3;
      code = byte & 0x0F;
    } else if ((byte & 0xF8) == 0xF0) {
      length = 4;
      code = byte & 0x07;
    } else {
      return false;
    }
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return false;
    }
    i += length;
  }
  return true;
}

absl::Status CheckRoomName(absl::string_view field, absl::string_view name) {
  if (name.empty() || name.size() > kMaxRoomNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be 1 to ", kMaxRoomNameBytes, " bytes; got ", name.size()));
  }
  if (!IsUtf8(name)) return absl::InvalidArgumentError(absl::StrCat(field, " must be UTF-8"));
  for (char c : name) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " must not contain control characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRoomId(absl::string_view field, absl::string_view room_id) {
  bool valid = room_id.size() == 36;
  for (size_t i = 0; valid && i < room_id.size(); ++i) {
    const char c = room_id[i];
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    valid = dash ? c == '-' : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  }
  if (valid) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be a room id (a lowercase UUID, as create_room returned it)"));
}

absl::Status CheckMemberKey(absl::string_view field, absl::string_view key) {
  if (key.size() == kPublicKeyBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " must be a ", kPublicKeyBytes,
                                                 "-byte Ed25519 public key; got ", key.size(),
                                                 " bytes"));
}

absl::StatusOr<RoomSettings> CheckCreateRoom(const v1::CreateRoomRequest& request,
                                             absl::Duration max_ttl) {
  if (absl::Status name = CheckRoomName("create_room.name", request.name()); !name.ok()) {
    return name;
  }
  if (request.password().size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("create_room.password must be at most ", kMaxPasswordBytes, " bytes"));
  }
  RoomSettings settings{.name = request.name(), .password = request.password()};
  if (request.max_clients() < 0 || request.max_clients() > kMaxClients) {
    return absl::InvalidArgumentError(absl::StrCat("create_room.max_clients must be 1 to ",
                                                   kMaxClients, " (0 = ", kDefaultMaxClients,
                                                   "); got ", request.max_clients()));
  }
  if (request.max_clients() > 0) settings.max_clients = request.max_clients();
  if (request.ttl_seconds() < 0 || absl::Seconds(request.ttl_seconds()) > max_ttl) {
    return absl::InvalidArgumentError(absl::StrCat("create_room.ttl_seconds must be 1 to ",
                                                   absl::ToInt64Seconds(max_ttl),
                                                   " (0 = one hour); got ", request.ttl_seconds()));
  }
  if (request.ttl_seconds() > 0) settings.ttl = absl::Seconds(request.ttl_seconds());
  settings.ttl = std::min(settings.ttl, max_ttl);
  return settings;
}

absl::Status CheckJoinRoom(const v1::JoinRoomRequest& request) {
  if (absl::Status id = CheckRoomId("join_room.room_id", request.room_id()); !id.ok()) return id;
  if (request.password().size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("join_room.password must be at most ", kMaxPasswordBytes, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status CheckRelay(const v1::RelayRequest& request) {
  if (absl::Status id = CheckRoomId("relay.room_id", request.room_id()); !id.ok()) return id;
  if (!request.to().empty()) {
    if (absl::Status to = CheckMemberKey("relay.to", request.to()); !to.ok()) return to;
  }
  if (request.payload().size() > kMaxPayloadBytes) {
    return absl::InvalidArgumentError(absl::StrCat("relay.payload must be at most ",
                                                   kMaxPayloadBytes, " bytes; got ",
                                                   request.payload().size()));
  }
  return absl::OkStatus();
}

}  // namespace warden::control::signal
