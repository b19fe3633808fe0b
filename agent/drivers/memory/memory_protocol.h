#pragma once

// The memory driver's control-socket protocol (memory_driver.h shows the
// requests), parsed and formatted in one place for the driver, its C++
// client and ./scripts/memctl.
//
// A request is one line of words separated by spaces. A word that holds a
// space, '%', '=' or a byte outside printable ASCII is percent-encoded
// (%20, %25, %3D, ...), so any password or label fits in one word; plain
// words need no encoding. A word with a bare '=' is an option
// (name=<encoded value>); the other words are positional.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/core/driver.h"

namespace warden::agent::memory {

// The word as it travels: percent-encoded where it must be.
std::string EncodeWord(absl::string_view word);
// INVALID_ARGUMENT for a '%' not followed by two hex digits.
absl::StatusOr<std::string> DecodeWord(absl::string_view word);

struct Request {
  std::string verb;
  std::vector<std::string> args;               // decoded
  std::map<std::string, std::string> options;  // decoded values
};
absl::StatusOr<Request> ParseRequest(absl::string_view line);

// open <key> <username> [<password> | wct_<ticket>] [label=<label>]
//      [protocol=openvpn|wireguard|quic]
struct OpenRequest {
  std::string session_key;
  std::string username;
  std::optional<std::string> password;
  std::optional<std::string> connect_ticket;
  std::string device_label;  // default: the key
  Protocol protocol = Protocol::kOpenVpn;
};
absl::StatusOr<OpenRequest> ParseOpen(const Request& request);

// "openvpn", "wireguard", "quic".
std::string ProtocolName(Protocol protocol);
std::optional<Protocol> ProtocolNamed(absl::string_view name);

}  // namespace warden::agent::memory
