#include "agent/drivers/driver_registry.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/drivers/memory/memory_driver.h"
#include "agent/drivers/openvpn/openvpn_driver.h"
#include "agent/drivers/wireguard/wireguard_driver.h"
#include "common/status_macros.h"

namespace warden::agent {

absl::StatusOr<std::unique_ptr<Driver>> MakeDriver(absl::string_view spec,
                                                   const std::string& state_dir) {
  absl::string_view rest = spec;
  if (absl::ConsumePrefix(&rest, "memory:") && !rest.empty()) {
    return std::make_unique<MemoryDriver>(std::string(rest));
  }
  rest = spec;
  if (absl::ConsumePrefix(&rest, "openvpn:")) {
    WARDEN_ASSIGN_OR_RETURN(openvpn::OpenVpnOptions options, openvpn::ParseOpenVpnSpec(rest));
    return std::make_unique<openvpn::OpenVpnDriver>(std::move(options));
  }
  if (absl::ConsumePrefix(&rest, "wireguard:")) {
    WARDEN_ASSIGN_OR_RETURN(wireguard::WireGuardOptions options,
                            wireguard::ParseWireGuardSpec(rest));
    options.state_dir = state_dir;
    return std::make_unique<wireguard::WireGuardDriver>(std::move(options));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown --driver \"", spec,
      "\"; known: openvpn:mgmt=<unix:/path|host:port>[;name=…], wireguard:iface=<wg0>[;poll=1;"
      "stale=180], memory:<control socket path>"));
}

absl::StatusOr<std::vector<std::unique_ptr<Driver>>> MakeDrivers(const DriverConfig& config,
                                                                 metrics::Registry& metrics) {
  std::vector<std::unique_ptr<Driver>> drivers;
  for (const std::string& spec : config.specs) {
    WARDEN_ASSIGN_OR_RETURN(std::unique_ptr<Driver> driver, MakeDriver(spec, config.state_dir));
    drivers.push_back(std::move(driver));
  }
  if (!config.quic.listen.empty()) {
    if (config.quic.cert_file.empty() || config.quic.key_file.empty()) {
      return absl::InvalidArgumentError("--quic-listen needs --quic-cert and --quic-key");
    }
    drivers.push_back(std::make_unique<quic::QuicDriver>(config.quic, metrics));
  }
  return drivers;
}

}  // namespace warden::agent
