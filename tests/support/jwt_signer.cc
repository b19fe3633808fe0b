#include "tests/support/jwt_signer.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace warden::testing {
namespace {

template <auto Free>
struct Freer {
  template <typename T>
  void operator()(T* object) const {
    Free(object);
  }
};
using Bignum = std::unique_ptr<BIGNUM, Freer<BN_free>>;
using Bio = std::unique_ptr<BIO, Freer<BIO_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Freer<ECDSA_SIG_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Freer<EVP_MD_CTX_free>>;

constexpr int kEs256HalfBytes = 32;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "jwt_signer: %s failed\n", what);
  ERR_print_errors_fp(stderr);
  std::abort();
}

const unsigned char* Bytes(absl::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}

// A big-endian unsigned integer of the key, e.g. an RSA modulus; padded
// with leading zeros to `width` bytes when `width` is not 0.
std::string BignumParam(const EVP_PKEY* key, const char* name, int width) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &raw) != 1) Fail(name);
  const Bignum value(raw);
  std::string bytes(width != 0 ? width : BN_num_bytes(value.get()), '\0');
  if (BN_bn2binpad(value.get(), reinterpret_cast<unsigned char*>(bytes.data()),
                   static_cast<int>(bytes.size())) < 0) {
    Fail("BN_bn2binpad");
  }
  return bytes;
}

// OpenSSL's DER ECDSA signature as JOSE's R || S, each padded to 32 bytes.
std::string DerToRawEs256(const std::string& der) {
  const unsigned char* in = Bytes(der);
  const EcdsaSig sig(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
  if (sig == nullptr) Fail("d2i_ECDSA_SIG");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string raw(2 * kEs256HalfBytes, '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, kEs256HalfBytes) < 0 ||
      BN_bn2binpad(s, out + kEs256HalfBytes, kEs256HalfBytes) < 0) {
    Fail("BN_bn2binpad");
  }
  return raw;
}

// `base` updated with `extra`; a null in `extra` removes that member (a
// header without "kid", say).
nlohmann::json Merged(nlohmann::json base, const nlohmann::json& extra) {
  if (extra.is_null()) return base;
  base.update(extra);
  for (auto it = base.begin(); it != base.end();) {
    it = it->is_null() ? base.erase(it) : std::next(it);
  }
  return base;
}

std::string SigningInput(const nlohmann::json& header, const nlohmann::json& claims) {
  return absl::StrCat(Base64Url(header.dump()), ".", Base64Url(claims.dump()));
}

}  // namespace

TestSigningKey::TestSigningKey(Alg alg, std::string kid, std::shared_ptr<EVP_PKEY> key)
    : alg_(alg), kid_(std::move(kid)), key_(std::move(key)) {}

TestSigningKey TestSigningKey::Generate(Alg alg, std::string kid) {
  switch (alg) {
    case Alg::kRs256:
      return GenerateRsa(2048, std::move(kid));
    case Alg::kEs256: {
      EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      if (key == nullptr) Fail("P-256 key generation");
      return TestSigningKey(alg, std::move(kid), std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free));
    }
    case Alg::kEdDsa: {
      EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      if (key == nullptr) Fail("Ed25519 key generation");
      return TestSigningKey(alg, std::move(kid), std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free));
    }
  }
  Fail("an unknown algorithm's key generation");
}

TestSigningKey TestSigningKey::GenerateRsa(int bits, std::string kid) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  if (key == nullptr) Fail("RSA key generation");
  return TestSigningKey(Alg::kRs256, std::move(kid), std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free));
}

const char* TestSigningKey::alg_name() const {
  switch (alg_) {
    case Alg::kRs256:
      return "RS256";
    case Alg::kEs256:
      return "ES256";
    case Alg::kEdDsa:
      return "EdDSA";
  }
  return "";
}

nlohmann::json TestSigningKey::PublicJwk() const {
  nlohmann::json jwk = {{"kid", kid_}, {"use", "sig"}, {"alg", alg_name()}};
  switch (alg_) {
    case Alg::kRs256:
      jwk["kty"] = "RSA";
      jwk["n"] = Base64Url(BignumParam(key_.get(), OSSL_PKEY_PARAM_RSA_N, 0));
      jwk["e"] = Base64Url(BignumParam(key_.get(), OSSL_PKEY_PARAM_RSA_E, 0));
      break;
    case Alg::kEs256:
      jwk["kty"] = "EC";
      jwk["crv"] = "P-256";
      jwk["x"] = Base64Url(BignumParam(key_.get(), OSSL_PKEY_PARAM_EC_PUB_X, kEs256HalfBytes));
      jwk["y"] = Base64Url(BignumParam(key_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, kEs256HalfBytes));
      break;
    case Alg::kEdDsa: {
      std::string x(32, '\0');
      size_t length = x.size();
      if (EVP_PKEY_get_raw_public_key(key_.get(), reinterpret_cast<unsigned char*>(x.data()),
                                      &length) != 1) {
        Fail("EVP_PKEY_get_raw_public_key");
      }
      x.resize(length);
      jwk["kty"] = "OKP";
      jwk["crv"] = "Ed25519";
      jwk["x"] = Base64Url(x);
      break;
    }
  }
  return jwk;
}

std::string TestSigningKey::PublicPem() const {
  const Bio bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1)
    Fail("PEM_write_bio_PUBKEY");
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string TestSigningKey::PublicDer() const {
  const int length = i2d_PUBKEY(key_.get(), nullptr);
  if (length <= 0) Fail("i2d_PUBKEY");
  std::string der(static_cast<size_t>(length), '\0');
  unsigned char* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PUBKEY(key_.get(), &out) != length) Fail("i2d_PUBKEY");
  return der;
}

std::string TestSigningKey::Sign(const nlohmann::json& header_extra,
                                 const nlohmann::json& claims) const {
  return SignCompact(header_extra, claims, /*der_signature=*/false);
}

std::string TestSigningKey::SignWithDerSignature(const nlohmann::json& header_extra,
                                                 const nlohmann::json& claims) const {
  return SignCompact(header_extra, claims, /*der_signature=*/true);
}

std::string TestSigningKey::SignCompact(const nlohmann::json& header_extra,
                                        const nlohmann::json& claims, bool der_signature) const {
  const nlohmann::json header =
      Merged({{"alg", alg_name()}, {"kid", kid_}, {"typ", "JWT"}}, header_extra);
  const std::string input = SigningInput(header, claims);

  // RSA PKCS #1 v1.5 and ECDSA hash with SHA-256; Ed25519 hashes itself.
  const EVP_MD* md = alg_ == Alg::kEdDsa ? nullptr : EVP_sha256();
  const MdCtx ctx(EVP_MD_CTX_new());
  if (ctx == nullptr || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_.get()) != 1) {
    Fail("EVP_DigestSignInit");
  }
  size_t length = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &length, Bytes(input), input.size()) != 1) {
    Fail("EVP_DigestSign (length)");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     Bytes(input), input.size()) != 1) {
    Fail("EVP_DigestSign");
  }
  signature.resize(length);
  if (alg_ == Alg::kEs256 && !der_signature) signature = DerToRawEs256(signature);
  return absl::StrCat(input, ".", Base64Url(signature));
}

std::string Base64Url(absl::string_view bytes) { return absl::WebSafeBase64Escape(bytes); }

std::string UnsignedToken(const nlohmann::json& header, const nlohmann::json& claims) {
  return absl::StrCat(SigningInput(Merged({{"alg", "none"}}, header), claims), ".");
}

std::string HmacToken(absl::string_view secret, const nlohmann::json& header,
                      const nlohmann::json& claims) {
  const std::string input =
      SigningInput(Merged({{"alg", "HS256"}, {"typ", "JWT"}}, header), claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), Bytes(input), input.size(),
           mac, &length) == nullptr) {
    Fail("HMAC");
  }
  return absl::StrCat(input, ".",
                      Base64Url(absl::string_view(reinterpret_cast<const char*>(mac), length)));
}

std::string Jwks(std::initializer_list<const TestSigningKey*> keys) {
  nlohmann::json document = {{"keys", nlohmann::json::array()}};
  for (const TestSigningKey* key : keys) document["keys"].push_back(key->PublicJwk());
  return document.dump();
}

}  // namespace warden::testing
