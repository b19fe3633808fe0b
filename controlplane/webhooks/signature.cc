#include "controlplane/webhooks/signature.h"

#include <sodium.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/secrets.h"

namespace warden::control::webhooks {
namespace {

constexpr absl::string_view kSecretPrefix = "whsec_";
constexpr size_t kSecretBytes = 32;

std::string Base64(const unsigned char* bytes, size_t length) {
  std::string out(sodium_base64_ENCODED_LEN(length, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes, length, sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.find('\0'));
  return out;
}

}  // namespace

std::string NewSigningSecret() {
  std::string bytes = secrets::RandomBytes(kSecretBytes);
  std::string secret = absl::StrCat(
      kSecretPrefix, Base64(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()));
  sodium_memzero(bytes.data(), bytes.size());
  return secret;
}

absl::StatusOr<std::string> SecretBytes(absl::string_view secret) {
  if (!absl::StartsWith(secret, kSecretPrefix)) {
    return absl::InvalidArgumentError("a webhook secret starts with \"whsec_\"");
  }
  const absl::string_view encoded = secret.substr(kSecretPrefix.size());
  std::string bytes(encoded.size(), '\0');
  size_t length = 0;
  if (encoded.empty() || sodium_base642bin(reinterpret_cast<unsigned char*>(bytes.data()),
                                           bytes.size(), encoded.data(), encoded.size(), nullptr,
                                           &length, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return absl::InvalidArgumentError("a webhook secret is whsec_ and base64");
  }
  bytes.resize(length);
  return bytes;
}

std::string Sign(absl::string_view secret_bytes, absl::string_view message_id, int64_t timestamp,
                 absl::string_view body) {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, reinterpret_cast<const unsigned char*>(secret_bytes.data()),
                              secret_bytes.size());
  const std::string head = absl::StrCat(message_id, ".", timestamp, ".");
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(head.data()),
                                head.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(body.data()),
                                body.size());
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_final(&state, mac);
  return absl::StrCat("v1,", Base64(mac, sizeof mac));
}

std::string SignatureHeader(std::span<const std::string> secret_bytes, absl::string_view message_id,
                            int64_t timestamp, absl::string_view body) {
  std::string header;
  for (const std::string& secret : secret_bytes) {
    if (!header.empty()) header += ' ';
    header += Sign(secret, message_id, timestamp, body);
  }
  return header;
}

}  // namespace warden::control::webhooks
