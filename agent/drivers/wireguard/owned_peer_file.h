#pragma once

// <state_dir>/wireguard-<iface>.json: the peers this agent provisioned, so
// that after a restart the driver still knows which peers are its own.
// Public keys, usernames, device ids, allowed IPs and "withheld" marks;
// written to a temporary file, synced and renamed, mode 0600.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/drivers/wireguard/owned_peer.h"

namespace warden::agent::wireguard {

struct StoredPeer {
  Key key{};
  PeerSpec spec;  // normalized (ValidateSpec)
  bool withheld = false;
};

// "" when `state_dir` is "" (the owned set is then kept in memory only).
std::string OwnedPeerFilePath(const std::string& state_dir, const std::string& iface);

// The peers the file lists; none when it does not exist (first start). An
// unreadable or unusable file is FAILED_PRECONDITION saying what to do.
absl::StatusOr<std::vector<StoredPeer>> ReadOwnedPeerFile(const std::string& path);

// Replaces the file (creating `state_dir` when missing).
absl::Status WriteOwnedPeerFile(const std::string& path, const std::string& state_dir,
                                const std::string& iface, const std::vector<StoredPeer>& peers);

}  // namespace warden::agent::wireguard
