#pragma once

// One WireGuard interface, controlled through whichever protocol runs it: the
// UAPI text protocol of a userspace implementation (wireguard-go, boringtun)
// or the kernel's generic netlink family "wireguard".

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/drivers/wireguard/wg_types.h"

namespace warden::agent::wireguard {

class WgBackend {
 public:
  virtual ~WgBackend() = default;

  // One full read of the device and all of its peers.
  virtual absl::StatusOr<WgDevice> GetDevice() = 0;

  // Makes the peer `peer.public_key` exist with exactly this configuration:
  // its allowed IPs are replaced by `peer.allowed_ips`, its preshared key is
  // set (or cleared when absent) and its persistent keepalive set (0 = off).
  // A non-empty `peer.endpoint` is set; an empty one leaves the endpoint the
  // peer roamed to alone. Handshake and byte counters are ignored.
  virtual absl::Status AddOrUpdatePeer(const WgPeer& peer) = 0;

  // Removes the peer; removing a peer that is not there is OK.
  virtual absl::Status RemovePeer(const Key& public_key) = 0;

  // "uapi" or "netlink".
  virtual std::string kind() const = 0;
};

// Picks UAPI when `<uapi_dir>/<iface>.sock` exists, else netlink when the
// kernel has the "wireguard" generic netlink family, else FAILED_PRECONDITION
// naming what was tried. Does not check that `iface` exists under netlink:
// the first call says NOT_FOUND if it does not.
absl::StatusOr<std::unique_ptr<WgBackend>> OpenWgBackend(
    const std::string& iface, const std::string& uapi_dir = "/var/run/wireguard");

}  // namespace warden::agent::wireguard
