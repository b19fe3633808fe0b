#pragma once

// Webhook URLs are chosen by whoever holds an ADMIN key, and Warden runs
// inside the operator's network: without a guard, a webhook could make the
// control plane POST to its own metrics port, the cloud's metadata service
// or a database next to it (server-side request forgery). Targets that
// resolve to loopback, private, link-local, shared, multicast or reserved
// addresses are refused unless the operator allows private targets; the
// address checked is the one connected to (the name is resolved once and
// pinned), so a name cannot change its answer between check and use.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::control::webhooks {

struct WebhookUrl {
  std::string scheme;  // "http" or "https"
  std::string host;    // without brackets for IPv6
  int port = 0;
};

// http:// or https:// with a host, no user name or password; INVALID_ARGUMENT
// with the reason otherwise.
absl::StatusOr<WebhookUrl> ParseWebhookUrl(absl::string_view url);

// Whether a numeric address ("10.0.0.1", "::1", "::ffff:127.0.0.1") is one
// anybody on the internet could have: not loopback, private (RFC 1918, ULA),
// link-local (and so not 169.254.169.254), CGNAT, multicast, unspecified,
// documentation or otherwise reserved. False for text that is no address.
bool IsPublicAddress(absl::string_view address);

// The target resolved: its numeric addresses, in the resolver's order.
// PERMISSION_DENIED when one of them is not public and private targets are
// not allowed (naming the address); UNAVAILABLE when the name does not
// resolve.
absl::StatusOr<std::vector<std::string>> ResolveTarget(const WebhookUrl& url,
                                                       bool allow_private_targets);

}  // namespace warden::control::webhooks
