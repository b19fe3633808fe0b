#pragma once

// Standard Webhooks signing (https://www.standardwebhooks.com): secrets are
// "whsec_" + base64 of random bytes; a message is signed with
// HMAC-SHA256(secret bytes, "<id>.<timestamp>.<body>"), sent as
// "v1,<base64>"; several signatures (during a secret rotation) are
// separated by spaces.

#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::control::webhooks {

// A fresh secret: "whsec_" + base64 of 32 random bytes.
std::string NewSigningSecret();

// The bytes a "whsec_..." secret stands for; INVALID_ARGUMENT when it is
// not one.
absl::StatusOr<std::string> SecretBytes(absl::string_view secret);

// "v1,<base64 HMAC-SHA256>" of "<message_id>.<timestamp>.<body>".
std::string Sign(absl::string_view secret_bytes, absl::string_view message_id, int64_t timestamp,
                 absl::string_view body);

// The webhook-signature header: one signature per secret, space-separated.
std::string SignatureHeader(std::span<const std::string> secret_bytes, absl::string_view message_id,
                            int64_t timestamp, absl::string_view body);

}  // namespace warden::control::webhooks
