#pragma once

// How the WireGuard driver is configured: its options and the --driver spec
// they are read from.

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden::agent::wireguard {

struct WireGuardOptions {
  std::string iface;
  absl::Duration poll_interval = absl::Seconds(1);
  // A handshake older than this ends the session (WireGuard's reject-after).
  absl::Duration stale_after = absl::Seconds(180);
  absl::Duration usage_interval = absl::Seconds(10);
  // Where wireguard-<iface>.json is kept; "" keeps the owned set in memory only.
  std::string state_dir;
  std::string uapi_dir = "/var/run/wireguard";
  // host:port users' devices dial to reach this interface (reported to the
  // control plane); "" = not offered to self-service devices.
  std::string endpoint{};
  // Admissions in flight at once, and queued beyond those.
  int admit_threads = 4;
  size_t admit_queue = 4096;
};

// "iface=wg0;poll=1;stale=180" (only iface is required). Also: poll-ms=
// (10..60000, for tests), usage= seconds, uapi-dir=, endpoint=host:port.
// state_dir is not part of the spec: the agent passes its --state-dir.
absl::StatusOr<WireGuardOptions> ParseWireGuardSpec(absl::string_view spec);

}  // namespace warden::agent::wireguard
