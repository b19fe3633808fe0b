#pragma once

// The JWS signature algorithms an ID token may use (RFC 7518 section 3 and
// RFC 8037), and the check of a signature with OpenSSL. Nothing symmetric
// (HS256 would let anyone holding the "secret", e.g. the provider's public
// key, sign) and no "none".

#include <openssl/types.h>

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace warden::control::oidc {

enum class JwsAlgorithm {
  kRs256,  // RSASSA-PKCS1-v1_5 with SHA-256, an RSA key
  kEs256,  // ECDSA P-256 with SHA-256, an EC P-256 key
  kEdDsa,  // Ed25519, an OKP key
};

// The names as they appear in a JWS header, for messages.
inline constexpr absl::string_view kAllowedAlgorithmNames = "RS256, ES256, EdDSA";

// The algorithm a header's "alg" names, when it is one Warden accepts; the
// comparison is exact ("rs256" and "None" are not names of anything).
std::optional<JwsAlgorithm> AllowedAlgorithm(absl::string_view alg);

// The JWK "kty" of the keys `algorithm` verifies with.
absl::string_view KeyTypeFor(JwsAlgorithm algorithm);

// Whether `signature` (as carried in the token, decoded: for ES256 the
// 64-byte R || S of RFC 7518 section 3.4) signs `signing_input` under `key`.
// `key` must be of KeyTypeFor(algorithm).
bool SignatureVerifies(JwsAlgorithm algorithm, EVP_PKEY* key, absl::string_view signing_input,
                       absl::string_view signature);

// JWS carries an ECDSA signature as fixed-size R || S (RFC 7518 section
// 3.4); OpenSSL signs and verifies the DER SEQUENCE { r, s }. Both return ""
// for input of the wrong shape (a DER signature sent as R || S, say): such a
// signature is refused, not converted.
std::string Es256SignatureToDer(absl::string_view raw);
std::string Es256SignatureFromDer(absl::string_view der);

}  // namespace warden::control::oidc
