#include "controlplane/oidc/client_assertion.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/secrets.h"
#include "controlplane/oidc/jws_signature.h"
#include "controlplane/oidc/openssl_ptr.h"

namespace warden::control::oidc {
namespace {

absl::StatusOr<PkeyPtr> ReadKey(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return absl::InternalError("cannot read the client key");
  // No passphrase: OpenSSL's default would prompt on a terminal and hang
  // start-up; an encrypted key is refused instead.
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return 0; };
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(
        "the client key is not an unencrypted PEM private key (RSA or P-256)");
  }
  const int type = EVP_PKEY_get_base_id(key.get());
  if (type == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key.get()) < 2048) {
      return absl::InvalidArgumentError("the client's RSA key must have at least 2048 bits");
    }
    return key;
  }
  if (type == EVP_PKEY_EC) {
    char group[64] = {};
    size_t length = 0;
    if (EVP_PKEY_get_utf8_string_param(key.get(), "group", group, sizeof(group), &length) == 1 &&
        std::string(group, length) == "prime256v1") {
      return key;
    }
  }
  return absl::InvalidArgumentError("the client key must be RSA (RS256) or EC P-256 (ES256)");
}

absl::StatusOr<std::string> Sign(EVP_PKEY* key, const std::string& input) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return absl::InternalError("cannot sign the client assertion");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return absl::InternalError("cannot sign the client assertion");
  }
  signature.resize(length);
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return signature;
  const std::string raw = Es256SignatureFromDer(signature);
  if (raw.empty()) return absl::InternalError("cannot encode the ECDSA signature");
  return raw;
}

}  // namespace

absl::Status CheckClientKey(const std::string& private_key_pem) {
  return ReadKey(private_key_pem).status();
}

absl::StatusOr<std::string> SignClientAssertion(const std::string& private_key_pem,
                                                const std::string& key_id,
                                                const std::string& client_id,
                                                const std::string& audience, absl::Time now) {
  absl::StatusOr<PkeyPtr> key = ReadKey(private_key_pem);
  if (!key.ok()) return key.status();
  nlohmann::json header = {
      {"alg", EVP_PKEY_get_base_id(key->get()) == EVP_PKEY_EC ? "ES256" : "RS256"}, {"typ", "JWT"}};
  if (!key_id.empty()) header["kid"] = key_id;
  const int64_t issued = absl::ToUnixSeconds(now);
  const nlohmann::json claims = {{"iss", client_id}, {"sub", client_id},
                                 {"aud", audience},  {"jti", secrets::NewToken("")},
                                 {"iat", issued},    {"exp", issued + 60}};
  const std::string input = absl::StrCat(absl::WebSafeBase64Escape(header.dump()), ".",
                                         absl::WebSafeBase64Escape(claims.dump()));
  absl::StatusOr<std::string> signature = Sign(key->get(), input);
  if (!signature.ok()) return signature.status();
  return absl::StrCat(input, ".", absl::WebSafeBase64Escape(*signature));
}

}  // namespace warden::control::oidc
