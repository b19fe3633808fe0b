#pragma once

// A peer the WireGuard driver provisioned ("owned") as the driver keeps it,
// and the small rules about peers and their sessions that the driver, its
// observer (peer_observer.h) and its state file (owned_peer_file.h) share.

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/core/driver.h"
#include "agent/drivers/wireguard/wg_types.h"

namespace warden::agent::wireguard {

enum class SessionState { kNone, kAdmitting, kLive };

struct OwnedPeer {
  PeerSpec spec;
  bool withheld = false;
  // Handshakes before this belong to an earlier life of the peer.
  absl::Time added_at = absl::InfinitePast();
  // When the driver last changed the peer on the interface; a poll read
  // before it does not repair the peer.
  absl::Time changed_at = absl::InfinitePast();
  bool present = false;  // on the interface at the last poll
  uint64_t seen_poll = 0;
  SessionState session = SessionState::kNone;
  uint64_t ticket = 0;  // the admission in flight
  absl::Time opened_at;
  std::string endpoint;
  // The peer's counters when the current session began (0 after (re)adding).
  int64_t rx_counted = 0, tx_counted = 0;
  int64_t rx = 0, tx = 0;  // of the current session
  absl::Time usage_at;
  int64_t usage_rx = 0, usage_tx = 0;
};

struct KeyHash {
  size_t operator()(const Key& key) const {
    size_t h;  // public keys are uniformly random
    std::memcpy(&h, key.data(), sizeof h);
    return h;
  }
};

using OwnedPeerMap = absl::flat_hash_map<Key, OwnedPeer, KeyHash>;

// "wg:<base64>" for a public key, and back (false when `session_key` is not one).
std::string SessionKeyFor(const Key& public_key);
bool KeyOfSession(absl::string_view session_key, Key& public_key);

// The client's address inside the tunnel: its first allowed IP, without the prefix.
std::string TunnelAddress(const PeerSpec& spec);
// The device id, cut to what the control plane accepts as a label.
std::string DeviceLabel(const PeerSpec& spec);

// Checks a peer from the control plane; `normalized` gets its allowed IPs in
// canonical form, so that equal sets compare equal.
absl::Status ValidateSpec(const PeerSpec& spec, Key& key, PeerSpec& normalized);
bool SameSpec(const PeerSpec& a, const PeerSpec& b);

// What the driver tells the agent's core about a session, collected under
// its lock and told after it.
struct SessionReport {
  enum class Kind { kOpened, kUsage, kClosed };
  Kind kind = Kind::kClosed;
  std::string session_key;
  std::string username;
  std::string tunnel_address;  // kOpened
  std::string reason;          // kClosed
  int64_t rx = 0, tx = 0;
};

SessionReport OpenedReport(std::string session_key, std::string username,
                           std::string tunnel_address);
SessionReport UsageReport(std::string session_key, std::string username, int64_t rx, int64_t tx);
SessionReport ClosedReport(std::string session_key, std::string username, std::string reason,
                           int64_t rx, int64_t tx);

// Ends the peer's session (an admission in flight then finds nothing to
// open); the Closed report when a session was live.
std::optional<SessionReport> EndSession(const Key& key, OwnedPeer& peer, const std::string& reason);

}  // namespace warden::agent::wireguard
