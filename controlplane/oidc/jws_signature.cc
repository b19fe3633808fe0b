#include "controlplane/oidc/jws_signature.h"

#include <openssl/rsa.h>

#include <string>

#include "controlplane/oidc/key_set.h"
#include "controlplane/oidc/openssl_ptr.h"

namespace warden::control::oidc {
namespace {

constexpr size_t kEs256HalfBytes = 32;

const unsigned char* Bytes(absl::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

// One-shot EVP_DigestVerify; `md` is null for Ed25519, which hashes itself.
bool DigestVerifies(const EVP_MD* md, EVP_PKEY* key, absl::string_view signing_input,
                    absl::string_view signature, bool rsa_pkcs1) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  EVP_PKEY_CTX* key_ctx = nullptr;  // owned by ctx
  if (ctx == nullptr || EVP_DigestVerifyInit(ctx.get(), &key_ctx, md, nullptr, key) != 1) {
    return false;
  }
  // PKCS #1 v1.5 is OpenSSL's default for RSA; said here so that no default
  // can ever turn RS256 into PSS.
  if (rsa_pkcs1 && EVP_PKEY_CTX_set_rsa_padding(key_ctx, RSA_PKCS1_PADDING) != 1) return false;
  return EVP_DigestVerify(ctx.get(), Bytes(signature), signature.size(), Bytes(signing_input),
                          signing_input.size()) == 1;
}

const char* OpenSslKeyTypeFor(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::kRs256:
      return "RSA";
    case JwsAlgorithm::kEs256:
      return "EC";
    case JwsAlgorithm::kEdDsa:
      return "ED25519";
  }
  return "";
}

}  // namespace

std::string Es256SignatureToDer(absl::string_view raw) {
  if (raw.size() != 2 * kEs256HalfBytes) return "";
  BignumPtr r(BN_bin2bn(Bytes(raw), kEs256HalfBytes, nullptr));
  BignumPtr s(BN_bin2bn(Bytes(raw) + kEs256HalfBytes, kEs256HalfBytes, nullptr));
  EcdsaSigPtr sig(ECDSA_SIG_new());
  if (r == nullptr || s == nullptr || sig == nullptr) return "";
  if (ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return "";
  // The signature owns r and s now.
  (void)r.release();
  (void)s.release();
  const int length = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (length <= 0) return "";
  std::string der(static_cast<size_t>(length), '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_ECDSA_SIG(sig.get(), &out) != length) return "";
  return der;
}

std::string Es256SignatureFromDer(absl::string_view der) {
  const unsigned char* in = Bytes(der);
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
  if (sig == nullptr) return "";
  std::string raw(2 * kEs256HalfBytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), out, kEs256HalfBytes) != kEs256HalfBytes ||
      BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), out + kEs256HalfBytes, kEs256HalfBytes) !=
          kEs256HalfBytes) {
    return "";
  }
  return raw;
}

std::optional<JwsAlgorithm> AllowedAlgorithm(absl::string_view alg) {
  if (alg == "RS256") return JwsAlgorithm::kRs256;
  if (alg == "ES256") return JwsAlgorithm::kEs256;
  if (alg == "EdDSA") return JwsAlgorithm::kEdDsa;
  return std::nullopt;
}

absl::string_view KeyTypeFor(JwsAlgorithm algorithm) {
  switch (algorithm) {
    case JwsAlgorithm::kRs256:
      return kKtyRsa;
    case JwsAlgorithm::kEs256:
      return kKtyEc;
    case JwsAlgorithm::kEdDsa:
      return kKtyOkp;
  }
  return "";  // not reached: the switch names every algorithm
}

bool SignatureVerifies(JwsAlgorithm algorithm, EVP_PKEY* key, absl::string_view signing_input,
                       absl::string_view signature) {
  const OpenSslErrorScope errors;
  // The key set already matched the JWK's kty; this makes the key itself
  // say so too, so a key of another kind is never fed to a verifier.
  if (EVP_PKEY_is_a(key, OpenSslKeyTypeFor(algorithm)) != 1) return false;
  switch (algorithm) {
    case JwsAlgorithm::kRs256:
      return DigestVerifies(EVP_sha256(), key, signing_input, signature, /*rsa_pkcs1=*/true);
    case JwsAlgorithm::kEs256: {
      const std::string der = Es256SignatureToDer(signature);
      return !der.empty() &&
             DigestVerifies(EVP_sha256(), key, signing_input, der, /*rsa_pkcs1=*/false);
    }
    case JwsAlgorithm::kEdDsa:
      return DigestVerifies(nullptr, key, signing_input, signature, /*rsa_pkcs1=*/false);
  }
  return false;
}

}  // namespace warden::control::oidc
