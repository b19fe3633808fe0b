#pragma once

// Webhook signing secrets must be read back to sign, so they cannot be
// stored as hashes: they are sealed (XSalsa20-Poly1305, libsodium's
// secretbox) with a key only the control plane holds, read from a file.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::control::webhooks {

class SecretBox {
 public:
  // The key file holds 32 bytes as 64 hex digits (whitespace around is
  // ignored): `openssl rand -hex 32 > webhook.key`.
  static absl::StatusOr<SecretBox> FromKeyFile(const std::string& path);
  static absl::StatusOr<SecretBox> FromHexKey(absl::string_view hex);

  // base64(nonce || ciphertext).
  std::string Seal(absl::string_view plain) const;
  // INVALID_ARGUMENT when it was not sealed with this key.
  absl::StatusOr<std::string> Open(absl::string_view sealed) const;

 private:
  explicit SecretBox(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace warden::control::webhooks
