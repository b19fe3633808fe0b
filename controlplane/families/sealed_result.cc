#include "controlplane/families/sealed_result.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <string>

#include "absl/strings/str_cat.h"

namespace warden::control::families {
namespace {

using Key = std::array<unsigned char, crypto_secretbox_KEYBYTES>;

// BLAKE2b over a fixed context and the request_id, keyed by the SHA-256 of
// the whole token (a BLAKE2b key holds at most 64 bytes; the token has 68).
Key DeriveKey(absl::string_view refresh_token, absl::string_view request_id) {
  static constexpr char kContext[] = "warden refresh result v1\n";
  std::array<unsigned char, crypto_hash_sha256_BYTES> token_key{};
  crypto_hash_sha256(token_key.data(), reinterpret_cast<const unsigned char*>(refresh_token.data()),
                     refresh_token.size());
  Key key{};
  crypto_generichash_state state;
  crypto_generichash_init(&state, token_key.data(), token_key.size(), key.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kContext),
                            sizeof(kContext) - 1);
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(request_id.data()),
                            request_id.size());
  crypto_generichash_final(&state, key.data(), key.size());
  sodium_memzero(token_key.data(), token_key.size());
  return key;
}

// A key for `purpose` from a secret the caller holds and Warden keeps only
// as a hash: BLAKE2b, unkeyed, over a context, the purpose and the secret,
// so neither the stored SHA-256 of the secret nor another purpose's key
// gives it.
Key DeriveSecretKey(absl::string_view secret, absl::string_view purpose) {
  static constexpr char kContext[] = "warden sealed under a client secret v1\n";
  Key key{};
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, key.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(kContext),
                            sizeof(kContext) - 1);
  const std::string framed = absl::StrCat(purpose.size(), ":", purpose, "\n");
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(framed.data()),
                            framed.size());
  crypto_generichash_update(&state, reinterpret_cast<const unsigned char*>(secret.data()),
                            secret.size());
  crypto_generichash_final(&state, key.data(), key.size());
  return key;
}

std::string Seal(absl::string_view plaintext, Key key) {
  std::string out(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                        nonce, key.data());
  sodium_memzero(key.data(), key.size());
  return out;
}

absl::StatusOr<std::string> Open(absl::string_view sealed, Key key) {
  constexpr size_t kOverhead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
  if (sealed.size() < kOverhead) return absl::NotFoundError("nothing sealed");
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string plaintext(sealed.size() - kOverhead, '\0');
  const int opened = crypto_secretbox_open_easy(
      reinterpret_cast<unsigned char*>(plaintext.data()), nonce + crypto_secretbox_NONCEBYTES,
      sealed.size() - crypto_secretbox_NONCEBYTES, nonce, key.data());
  sodium_memzero(key.data(), key.size());
  if (opened != 0) return absl::NotFoundError("the sealed box does not open with this secret");
  return plaintext;
}

}  // namespace

std::string SealResult(absl::string_view plaintext, absl::string_view refresh_token,
                       absl::string_view request_id) {
  return Seal(plaintext, DeriveKey(refresh_token, request_id));
}

absl::StatusOr<std::string> OpenResult(absl::string_view sealed, absl::string_view refresh_token,
                                       absl::string_view request_id) {
  return Open(sealed, DeriveKey(refresh_token, request_id));
}

std::string SealUnderSecret(absl::string_view plaintext, absl::string_view secret,
                            absl::string_view purpose) {
  return Seal(plaintext, DeriveSecretKey(secret, purpose));
}

absl::StatusOr<std::string> OpenUnderSecret(absl::string_view sealed, absl::string_view secret,
                                            absl::string_view purpose) {
  return Open(sealed, DeriveSecretKey(secret, purpose));
}

}  // namespace warden::control::families
