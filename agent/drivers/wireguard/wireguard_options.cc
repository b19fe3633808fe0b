#include "agent/drivers/wireguard/wireguard_options.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/drivers/spec_options.h"
#include "agent/drivers/wireguard/wg_types.h"
#include "common/host_port.h"
#include "common/status_macros.h"

namespace warden::agent::wireguard {
namespace {

absl::StatusOr<int64_t> NumberOption(absl::string_view key, absl::string_view value, int64_t min,
                                     int64_t max) {
  int64_t number = 0;
  if (value.empty() || !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(value, &number) || number < min || number > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "wireguard driver: ", key, " must be a whole number in [", min, ", ", max, "]"));
  }
  return number;
}

}  // namespace

absl::StatusOr<WireGuardOptions> ParseWireGuardSpec(absl::string_view spec) {
  WireGuardOptions options;
  for (const auto& [key, value] : SplitSpecOptions(spec)) {
    if (key == "iface") {
      if (absl::Status valid = ValidateInterfaceName(value); !valid.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("wireguard driver: iface: ", valid.message()));
      }
      options.iface = std::string(value);
    } else if (key == "poll") {
      WARDEN_ASSIGN_OR_RETURN(int64_t seconds, NumberOption(key, value, 1, 60));
      options.poll_interval = absl::Seconds(seconds);
    } else if (key == "poll-ms") {
      WARDEN_ASSIGN_OR_RETURN(int64_t ms, NumberOption(key, value, 10, 60000));
      options.poll_interval = absl::Milliseconds(ms);
    } else if (key == "stale") {
      WARDEN_ASSIGN_OR_RETURN(int64_t seconds, NumberOption(key, value, 5, 86400));
      options.stale_after = absl::Seconds(seconds);
    } else if (key == "usage") {
      WARDEN_ASSIGN_OR_RETURN(int64_t seconds, NumberOption(key, value, 1, 3600));
      options.usage_interval = absl::Seconds(seconds);
    } else if (key == "uapi-dir") {
      if (!absl::StartsWith(value, "/")) {
        return absl::InvalidArgumentError("wireguard driver: uapi-dir must be an absolute path");
      }
      options.uapi_dir = std::string(value);
    } else if (key == "endpoint") {
      WARDEN_RETURN_IF_ERROR(ValidateHostPort("wireguard driver: endpoint", value));
      options.endpoint = std::string(value);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("wireguard driver: unknown option \"", key,
                       "\"; known: iface, poll, poll-ms, stale, usage, uapi-dir, endpoint"));
    }
  }
  if (options.iface.empty()) {
    return absl::InvalidArgumentError(
        "wireguard driver: iface=<interface> (the WireGuard interface to control) is required");
  }
  if (options.stale_after <= options.poll_interval) {
    return absl::InvalidArgumentError("wireguard driver: stale must be longer than the poll");
  }
  return options;
}

}  // namespace warden::agent::wireguard
