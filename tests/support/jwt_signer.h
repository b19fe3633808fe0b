#pragma once

// Signs JWTs as an OpenID Provider would, with keys made on the spot, and
// forges them as an attacker would (no signature, HMAC with a public key,
// DER where JOSE wants R || S), for the tests of Warden's ID-token verifier
// and of the single sign-on built on it. Written independently of the
// verifier, on OpenSSL directly, so that a mistake in one is not mirrored
// in the other. Failures to make a key or a signature abort: they are
// broken test machines, not test outcomes.

#include <openssl/types.h>

#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/string_view.h"

namespace warden::testing {

class TestSigningKey {
 public:
  enum class Alg { kRs256, kEs256, kEdDsa };

  // A fresh key: RSA 2048 for kRs256, P-256 for kEs256, Ed25519 for kEdDsa.
  static TestSigningKey Generate(Alg alg, std::string kid);
  // An RS256 key of `bits` (e.g. 1024, which a verifier must not accept).
  static TestSigningKey GenerateRsa(int bits, std::string kid);

  const std::string& kid() const { return kid_; }
  // "RS256", "ES256" or "EdDSA".
  const char* alg_name() const;

  // The public key as a JWK, as a provider publishes it: kty, kid, use
  // "sig", alg, and the key's own members (n and e; crv, x and y; crv and x).
  nlohmann::json PublicJwk() const;
  // The public key as SubjectPublicKeyInfo, PEM and DER: what a confused
  // verifier might take for an HMAC secret.
  std::string PublicPem() const;
  std::string PublicDer() const;

  // A compact JWS: header {alg, kid, typ: "JWT"} updated with
  // `header_extra` (which may replace any of them, alg too, and removes a
  // member it sets to null; the signature is made with this key's algorithm
  // whatever the header says), payload `claims`.
  std::string Sign(const nlohmann::json& header_extra, const nlohmann::json& claims) const;
  // As Sign, but an ES256 signature is left in OpenSSL's DER form instead
  // of JOSE's fixed 64-byte R || S (the mistake of some libraries).
  std::string SignWithDerSignature(const nlohmann::json& header_extra,
                                   const nlohmann::json& claims) const;

 private:
  TestSigningKey(Alg alg, std::string kid, std::shared_ptr<EVP_PKEY> key);
  std::string SignCompact(const nlohmann::json& header_extra, const nlohmann::json& claims,
                          bool der_signature) const;

  Alg alg_;
  std::string kid_;
  std::shared_ptr<EVP_PKEY> key_;
};

// Unpadded base64url (RFC 7515), as every part of a compact JWS.
std::string Base64Url(absl::string_view bytes);

// "<header>.<claims>." with no signature; the header is {"alg": "none"}
// updated with `header` as in Sign (pass {"alg": "None"} for the case
// variant).
std::string UnsignedToken(const nlohmann::json& header, const nlohmann::json& claims);

// HS256 with `secret` as the HMAC key; the header is {"alg": "HS256", "typ":
// "JWT"} updated with `header` as in Sign.
std::string HmacToken(absl::string_view secret, const nlohmann::json& header,
                      const nlohmann::json& claims);

// A JWKS document ({"keys": [...]}) of the keys' public JWKs.
std::string Jwks(std::initializer_list<const TestSigningKey*> keys);

}  // namespace warden::testing
