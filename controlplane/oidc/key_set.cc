#include "controlplane/oidc/key_set.h"

#include <openssl/core_names.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controlplane/oidc/base64url.h"
#include "controlplane/oidc/openssl_ptr.h"
#include "controlplane/oidc/shown_value.h"

namespace warden::control::oidc {
namespace {

using nlohmann::json;

// Below 2048 bits RSA no longer resists a well-funded attacker (NIST SP
// 800-131A); providers have published 2048 or more for years.
constexpr int kMinRsaBits = 2048;
constexpr size_t kP256CoordinateBytes = 32;
constexpr size_t kEd25519KeyBytes = 32;

// A member that must be a string when present; "" when absent.
absl::StatusOr<std::string> OptionalString(const json& jwk, const char* name) {
  const auto it = jwk.find(name);
  if (it == jwk.end()) return std::string();
  if (!it->is_string())
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is not a string"));
  return it->get<std::string>();
}

// A key parameter: a required base64url string.
absl::StatusOr<std::string> KeyBytes(const json& jwk, const char* name) {
  const auto it = jwk.find(name);
  if (it == jwk.end() || !it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("no \"", name, "\" string"));
  }
  absl::StatusOr<std::string> bytes = DecodeBase64Url(it->get_ref<const std::string&>());
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("\"", name, "\" is ", bytes.status().message()));
  }
  return bytes;
}

BignumPtr UnsignedBigEndian(const std::string& bytes) {
  return BignumPtr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                             static_cast<int>(bytes.size()), nullptr));
}

// A public key of OpenSSL `type` ("RSA", "EC") from the parameters in `build`.
absl::StatusOr<PkeyPtr> PublicKeyFromParams(const char* type, OSSL_PARAM_BLD* build) {
  ParamsPtr params(OSSL_PARAM_BLD_to_param(build));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (params == nullptr || ctx == nullptr || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("OpenSSL does not take it as an ", type, " key"));
  }
  return PkeyPtr(key);
}

absl::StatusOr<PkeyPtr> RsaKey(const json& jwk) {
  WARDEN_ASSIGN_OR_RETURN(const std::string n_bytes, KeyBytes(jwk, "n"));
  WARDEN_ASSIGN_OR_RETURN(const std::string e_bytes, KeyBytes(jwk, "e"));
  BignumPtr n = UnsignedBigEndian(n_bytes);
  BignumPtr e = UnsignedBigEndian(e_bytes);
  if (n == nullptr || e == nullptr) return absl::ResourceExhaustedError("out of memory");
  if (const int bits = BN_num_bits(n.get()); bits < kMinRsaBits) {
    return absl::InvalidArgumentError(
        absl::StrCat("RSA modulus of ", bits, " bits, below ", kMinRsaBits));
  }
  ParamBuildPtr build(OSSL_PARAM_BLD_new());
  if (build == nullptr ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(build.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1) {
    return absl::ResourceExhaustedError("out of memory");
  }
  return PublicKeyFromParams("RSA", build.get());
}

absl::StatusOr<PkeyPtr> EcP256Key(const json& jwk) {
  WARDEN_ASSIGN_OR_RETURN(const std::string crv, OptionalString(jwk, "crv"));
  if (crv != "P-256") {
    return absl::InvalidArgumentError(
        absl::StrCat("EC curve ", ShownValue(crv), " (only P-256 is accepted)"));
  }
  WARDEN_ASSIGN_OR_RETURN(const std::string x, KeyBytes(jwk, "x"));
  WARDEN_ASSIGN_OR_RETURN(const std::string y, KeyBytes(jwk, "y"));
  // RFC 7518 section 6.2.1.2: each coordinate is exactly the field's size.
  if (x.size() != kP256CoordinateBytes || y.size() != kP256CoordinateBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("P-256 coordinates of ", x.size(), " and ", y.size(), " bytes (32 each)"));
  }
  // SEC 1 uncompressed point: 0x04 || x || y.
  const std::string point = absl::StrCat("\x04", x, y);
  ParamBuildPtr build(OSSL_PARAM_BLD_new());
  if (build == nullptr ||
      OSSL_PARAM_BLD_push_utf8_string(build.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) !=
          1 ||
      OSSL_PARAM_BLD_push_octet_string(build.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) != 1) {
    return absl::ResourceExhaustedError("out of memory");
  }
  return PublicKeyFromParams("EC", build.get());
}

absl::StatusOr<PkeyPtr> Ed25519Key(const json& jwk) {
  WARDEN_ASSIGN_OR_RETURN(const std::string crv, OptionalString(jwk, "crv"));
  if (crv != "Ed25519") {
    return absl::InvalidArgumentError(
        absl::StrCat("OKP curve ", ShownValue(crv), " (only Ed25519 is accepted)"));
  }
  WARDEN_ASSIGN_OR_RETURN(const std::string x, KeyBytes(jwk, "x"));
  if (x.size() != kEd25519KeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 public key of ", x.size(), " bytes (32)"));
  }
  PkeyPtr key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size()));
  if (key == nullptr)
    return absl::InvalidArgumentError("OpenSSL does not take it as an Ed25519 key");
  return key;
}

// Catches what building the key may not have: an EC point off the curve
// (the invalid-curve attack), an even RSA modulus or exponent.
absl::Status CheckPublicKey(EVP_PKEY* key) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  if (ctx == nullptr || EVP_PKEY_public_check(ctx.get()) != 1) {
    return absl::InvalidArgumentError("not a valid public key (e.g. a point not on the curve)");
  }
  return absl::OkStatus();
}

// Whether the JWK says it is for signatures; a key without "use" or
// "key_ops" is for anything.
absl::Status CheckIntendedForSignatures(const json& jwk) {
  WARDEN_ASSIGN_OR_RETURN(const std::string use, OptionalString(jwk, "use"));
  if (!use.empty() && use != "sig") {
    return absl::InvalidArgumentError(
        absl::StrCat("\"use\" is ", ShownValue(use), ", not \"sig\""));
  }
  if (const auto ops = jwk.find("key_ops"); ops != jwk.end()) {
    if (!ops->is_array() || std::find(ops->begin(), ops->end(), json("verify")) == ops->end()) {
      return absl::InvalidArgumentError("\"key_ops\" does not include \"verify\"");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ProviderKey> ReadKey(const json& jwk) {
  if (!jwk.is_object()) return absl::InvalidArgumentError("not a JSON object");
  ProviderKey read;
  WARDEN_ASSIGN_OR_RETURN(read.kid, OptionalString(jwk, "kid"));
  WARDEN_ASSIGN_OR_RETURN(read.kty, OptionalString(jwk, "kty"));
  WARDEN_ASSIGN_OR_RETURN(read.alg, OptionalString(jwk, "alg"));
  WARDEN_RETURN_IF_ERROR(CheckIntendedForSignatures(jwk));
  PkeyPtr key;
  if (read.kty == kKtyRsa) {
    WARDEN_ASSIGN_OR_RETURN(key, RsaKey(jwk));
  } else if (read.kty == kKtyEc) {
    WARDEN_ASSIGN_OR_RETURN(key, EcP256Key(jwk));
  } else if (read.kty == kKtyOkp) {
    WARDEN_ASSIGN_OR_RETURN(key, Ed25519Key(jwk));
  } else if (read.kty == "oct") {
    return absl::InvalidArgumentError("a symmetric key (kty \"oct\") is never accepted");
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown kty ", ShownValue(read.kty)));
  }
  WARDEN_RETURN_IF_ERROR(CheckPublicKey(key.get()));
  read.key = std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free);
  return read;
}

}  // namespace

absl::StatusOr<KeySet> KeySet::Parse(absl::string_view jwks_json) {
  const OpenSslErrorScope errors;
  const json document = json::parse(jwks_json, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return absl::InvalidArgumentError("the JWKS document is not JSON");
  if (!document.is_object() || !document.contains("keys") || !document["keys"].is_array()) {
    return absl::InvalidArgumentError("the JWKS document has no \"keys\" array");
  }
  KeySet set;
  size_t index = 0;
  for (const json& jwk : document["keys"]) {
    absl::StatusOr<ProviderKey> key = ReadKey(jwk);
    if (key.ok()) {
      set.keys_.push_back(*std::move(key));
    } else {
      const bool named = jwk.is_object() && jwk.contains("kid") && jwk["kid"].is_string();
      set.skipped_.push_back(absl::StrCat(
          "key ", named ? ShownValue(jwk["kid"].get<std::string>()) : absl::StrCat("#", index),
          ": ", key.status().message()));
    }
    ++index;
  }
  return set;
}

bool KeySet::HasKid(absl::string_view kid) const {
  for (const ProviderKey& key : keys_) {
    if (key.kid == kid) return true;
  }
  return false;
}

absl::StatusOr<const ProviderKey*> KeySet::Select(absl::string_view kid,
                                                  absl::string_view kty) const {
  const ProviderKey* chosen = nullptr;
  int candidates = 0;
  bool kid_known = false;
  for (const ProviderKey& key : keys_) {
    if (!kid.empty() && key.kid != kid) continue;
    kid_known = true;
    if (key.kty != kty) continue;
    chosen = &key;
    ++candidates;
  }
  if (kid.empty()) {
    // Guessing among several keys would let the token pick; refuse instead.
    if (candidates != 1) {
      return absl::UnauthenticatedError(
          absl::StrCat("ID token names no key (kid) and the provider's key set has ", candidates,
                       " ", kty, " keys, not exactly one"));
    }
    return chosen;
  }
  if (!kid_known) {
    return absl::NotFoundError(absl::StrCat("ID token names key ", ShownValue(kid),
                                            ", which the provider's key set does not have"));
  }
  if (candidates == 0) {
    return absl::UnauthenticatedError(absl::StrCat("ID token names key ", ShownValue(kid),
                                                   ", which is not an ", kty,
                                                   " key as its algorithm needs"));
  }
  if (candidates > 1) {
    return absl::UnauthenticatedError(absl::StrCat("the provider's key set has ", candidates, " ",
                                                   kty, " keys named ", ShownValue(kid)));
  }
  return chosen;
}

}  // namespace warden::control::oidc
