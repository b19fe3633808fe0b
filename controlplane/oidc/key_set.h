#pragma once

// The OpenID Provider's public signing keys, read from its JWKS document
// (RFC 7517). Only keys an ID token may be verified with are kept: RSA of
// at least 2048 bits, EC on P-256, and Ed25519. A key Warden cannot use is
// skipped rather than failing the whole set, so one exotic key published
// beside the real ones does not lock every user out; why it was skipped is
// kept for the log. Symmetric (`oct`) keys are never kept: an ID token
// "signed" with a shared secret proves nothing about who issued it.

#include <openssl/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::control::oidc {

// The JWK key types Warden verifies with ("kty").
inline constexpr absl::string_view kKtyRsa = "RSA";
inline constexpr absl::string_view kKtyEc = "EC";    // P-256 only
inline constexpr absl::string_view kKtyOkp = "OKP";  // Ed25519 only

// One usable public key of the provider.
struct ProviderKey {
  std::string kid{};  // empty when the JWK has none
  std::string kty{};  // kKtyRsa, kKtyEc or kKtyOkp
  std::string alg{};  // the JWK's "alg", empty when it has none
  // Shared so that a KeySet is cheap to copy out of a cache; OpenSSL allows
  // verifying with one key from several threads at once.
  std::shared_ptr<EVP_PKEY> key{};
};

class KeySet {
 public:
  // INVALID_ARGUMENT when `jwks_json` is not JSON or has no "keys" array;
  // a set whose every key was skipped is valid, and empty.
  static absl::StatusOr<KeySet> Parse(absl::string_view jwks_json);

  size_t size() const { return keys_.size(); }
  const std::vector<ProviderKey>& keys() const { return keys_; }
  // One line per skipped key: which one, and why ("key \"k1\": RSA modulus
  // of 1024 bits, below 2048").
  const std::vector<std::string>& skipped() const { return skipped_; }

  bool HasKid(absl::string_view kid) const;

  // The key to verify a token whose header names `kid` (empty: none) and
  // whose algorithm needs a key of type `kty`. With a kid: the one key with
  // that kid and type; NOT_FOUND when no key has that kid (the provider may
  // have rotated its keys: fetch the set again). Without a kid: the only key
  // of that type. Every other failure (the kid names a key of another type,
  // no or several candidates) is UNAUTHENTICATED.
  absl::StatusOr<const ProviderKey*> Select(absl::string_view kid, absl::string_view kty) const;

 private:
  std::vector<ProviderKey> keys_;
  std::vector<std::string> skipped_;
};

}  // namespace warden::control::oidc
