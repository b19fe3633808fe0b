#pragma once

// Verifying an OpenID Connect ID token (OpenID Connect Core 1.0 section
// 3.1.3.7): a JWS compact JWT, signed with one of the provider's keys, whose
// claims name the provider, this client, a current time window and the
// user. Pure: the key set and the time come in as arguments.
//
// Only RS256, ES256 and EdDSA are accepted. The header cannot widen that:
// "none" and HMAC algorithms are refused, "crit" is refused (no extension is
// understood), and keys or key locations carried in the token ("jwk", "jku",
// "x5u", "x5c") are ignored: the key always comes from the provider's key
// set, which the caller fetched from the provider itself. A JWT access token
// ("typ": "at+jwt", RFC 9068) is refused, so that one issued by the same
// provider for this client cannot stand in for an ID token.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controlplane/oidc/key_set.h"

namespace warden::control::oidc {

struct TokenHeader {
  std::string alg{};
  std::string kid{};  // empty when the header has none
};

// The JWS header only, unverified: whether the key set must be fetched
// again (unknown kid). UNAUTHENTICATED "malformed ID token: ..." when it is
// not three base64url parts with a JSON object header carrying a string
// "alg".
absl::StatusOr<TokenHeader> PeekHeader(absl::string_view jwt);

struct IdTokenExpectations {
  // `iss` must equal it exactly.
  std::string issuer{};
  // `aud` must contain it; with several audiences `azp` must be present and
  // equal it; `azp` present → must equal it.
  std::string client_id{};
  // When set: the `nonce` claim must exist and SHA-256(nonce) in lowercase
  // hex must equal this. Only the hash need be kept with the pending login,
  // so what is stored there cannot be replayed as a nonce.
  std::optional<std::string> nonce_sha256_hex{};
  absl::Time now{};
  // Tolerated disagreement between the provider's clock and ours, both ways.
  absl::Duration skew = absl::Seconds(60);
};

struct IdToken {
  std::string subject{};  // `sub`, 1..255 characters
  std::string alg{}, kid{};
  absl::Time expires_at{}, issued_at{};
  nlohmann::json claims{};  // the whole payload, for claim mapping (username, groups)
};

// The verified token. NOT_FOUND, and only then, when the header names a kid
// that `keys` does not have: the provider may have rotated its keys, so the
// caller fetches the key set again (at a bounded rate: anyone can send a
// token with a made-up kid) and retries once. Every refusal of the token is
// UNAUTHENTICATED with a message saying what was wrong, never containing
// the token. INVALID_ARGUMENT when `expect` itself is unusable (no issuer,
// no client id, a negative skew).
absl::StatusOr<IdToken> VerifyIdToken(absl::string_view jwt, const KeySet& keys,
                                      const IdTokenExpectations& expect);

}  // namespace warden::control::oidc
