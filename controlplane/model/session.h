#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace warden::control::model {

enum class Protocol { kWireGuard, kOpenVpn, kQuic };
enum class SessionState { kActive, kClosing, kClosed };
enum class NodeState { kActive, kDraining, kRemoved };

struct Node {
  std::string id;
  std::string name;
  std::vector<Protocol> protocols;
  NodeState state = NodeState::kActive;
  int64_t attach_epoch = 0;
  std::optional<absl::Time> last_seen_at;
  absl::Time created_at;
  int64_t live_sessions = 0;  // filled by listings
  // May name users without their password or a ticket (see Vouching).
  bool trusted_authenticator = false;
  // key → value (region=eu-west): scopes caps and node selectors.
  std::map<std::string, std::string> labels;
};

struct Session {
  std::string id;
  std::string user_id;
  std::string username;
  std::string node_id;
  std::string node_name;
  Protocol protocol = Protocol::kOpenVpn;
  std::string session_key;
  std::string device_label;
  std::string client_address;
  std::string tunnel_address;
  std::optional<std::string> family_id;
  SessionState state = SessionState::kActive;
  absl::Time opened_at;
  absl::Time last_seen_at;
  std::optional<absl::Time> closed_at;
  std::string close_reason;
  std::string end_reason;  // a code of model/session_end.h
  int64_t rx_bytes = 0;
  int64_t tx_bytes = 0;
  // While the node fails to carry out the session's kill.
  std::optional<absl::Time> kill_failed_at;
  std::string kill_error;
};

}  // namespace warden::control::model
