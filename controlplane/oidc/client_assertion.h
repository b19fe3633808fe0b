#pragma once

// private_key_jwt client authentication (RFC 7523): a short-lived JWT the
// client signs with its own key instead of sending a shared secret. Signed
// with OpenSSL's EVP API (RS256 for an RSA key, ES256 for a P-256 key).

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::control::oidc {

// A client assertion for `audience` (the token endpoint), valid for a
// minute, with a fresh jti. INVALID_ARGUMENT for a key that is not RSA or
// P-256 PEM.
absl::StatusOr<std::string> SignClientAssertion(const std::string& private_key_pem,
                                                const std::string& key_id,
                                                const std::string& client_id,
                                                const std::string& audience, absl::Time now);

// Checks once, at start-up, that the key can sign.
absl::Status CheckClientKey(const std::string& private_key_pem);

}  // namespace warden::control::oidc
