#include "controlplane/webhooks/secret_box.h"

#include <sodium.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/secrets.h"

namespace warden::control::webhooks {

absl::StatusOr<SecretBox> SecretBox::FromKeyFile(const std::string& path) {
  std::ifstream file(path);
  if (!file) return absl::InvalidArgumentError(absl::StrCat("cannot read webhook key file ", path));
  std::stringstream content;
  content << file.rdbuf();
  absl::StatusOr<SecretBox> box = FromHexKey(content.str());
  if (!box.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("webhook key file ", path, ": ", box.status().message()));
  }
  return box;
}

absl::StatusOr<SecretBox> SecretBox::FromHexKey(absl::string_view hex) {
  hex = absl::StripAsciiWhitespace(hex);
  std::string key(crypto_secretbox_KEYBYTES, '\0');
  size_t length = 0;
  if (hex.size() != 2 * crypto_secretbox_KEYBYTES ||
      sodium_hex2bin(reinterpret_cast<unsigned char*>(key.data()), key.size(), hex.data(),
                     hex.size(), nullptr, &length, nullptr) != 0 ||
      length != crypto_secretbox_KEYBYTES) {
    return absl::InvalidArgumentError(
        "the key is 32 bytes as 64 hex digits (openssl rand -hex 32)");
  }
  return SecretBox(std::move(key));
}

std::string SecretBox::Seal(absl::string_view plain) const {
  std::string box(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plain.size(), '\0');
  auto* out = reinterpret_cast<unsigned char*>(box.data());
  const std::string nonce = secrets::RandomBytes(crypto_secretbox_NONCEBYTES);
  std::copy(nonce.begin(), nonce.end(), out);
  crypto_secretbox_easy(out + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plain.data()), plain.size(), out,
                        reinterpret_cast<const unsigned char*>(key_.data()));
  std::string encoded(sodium_base64_ENCODED_LEN(box.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(encoded.data(), encoded.size(), out, box.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  encoded.resize(encoded.find('\0'));
  return encoded;
}

absl::StatusOr<std::string> SecretBox::Open(absl::string_view sealed) const {
  std::string box(sealed.size(), '\0');
  size_t length = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(box.data()), box.size(), sealed.data(),
                        sealed.size(), nullptr, &length, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      length < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return absl::InvalidArgumentError("not a sealed webhook secret");
  }
  const auto* in = reinterpret_cast<const unsigned char*>(box.data());
  std::string plain(length - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(plain.data()),
                                 in + crypto_secretbox_NONCEBYTES,
                                 length - crypto_secretbox_NONCEBYTES, in,
                                 reinterpret_cast<const unsigned char*>(key_.data())) != 0) {
    return absl::InvalidArgumentError(
        "a webhook secret does not open with this webhook key (was --webhook-key-file changed?)");
  }
  return plain;
}

}  // namespace warden::control::webhooks
