#pragma once

// "host:port" as users dial it: a DNS name or an IPv4 literal, or an IPv6
// literal in brackets, then a port 1-65535. Shared by the agent, which is
// told its WireGuard endpoint, and the control plane, which hands it to
// users' devices (so nothing else may hide in it).

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace warden {

// INVALID_ARGUMENT naming `field` and what is wrong.
absl::Status ValidateHostPort(absl::string_view field, absl::string_view text);

}  // namespace warden
