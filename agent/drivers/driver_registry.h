#pragma once

// Every driver the agent can run, built from its configuration in one place:
// the --driver specs ("openvpn:…", "wireguard:…", "memory:…") and the QUIC
// endpoint the agent serves itself (--quic-*). Nothing is started here.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/core/driver.h"
#include "agent/drivers/quic/quic_driver.h"
#include "common/metrics.h"

namespace warden::agent {

struct DriverConfig {
  std::vector<std::string> specs;  // one per --driver
  // The agent's --state-dir: drivers that keep state (WireGuard) keep it there.
  std::string state_dir;
  // With quic.listen empty, the agent serves no QUIC tunnels.
  quic::QuicOptions quic;
};

// One driver from its spec. INVALID_ARGUMENT names the known kinds.
absl::StatusOr<std::unique_ptr<Driver>> MakeDriver(absl::string_view spec,
                                                   const std::string& state_dir);

// The configured drivers in the order given, the QUIC endpoint last. Its
// metrics go to `metrics`, which must outlive the drivers.
absl::StatusOr<std::vector<std::unique_ptr<Driver>>> MakeDrivers(const DriverConfig& config,
                                                                 metrics::Registry& metrics);

}  // namespace warden::agent
