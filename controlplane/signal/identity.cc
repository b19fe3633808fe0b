#include "controlplane/signal/identity.h"

#include <sodium.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/secrets.h"

namespace warden::control::signal {

std::string NewNonce() { return secrets::RandomBytes(kNonceBytes); }

std::string NewConnectionId() { return absl::BytesToHexString(secrets::RandomBytes(16)); }

absl::Status VerifyChallenge(absl::string_view public_key, absl::string_view nonce,
                             absl::string_view signature) {
  if (public_key.size() != kPublicKeyBytes || signature.size() != kSignatureBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identify needs a ", kPublicKeyBytes, "-byte Ed25519 public_key and a ", kSignatureBytes,
        "-byte signature; got ", public_key.size(), " and ", signature.size(), " bytes"));
  }
  const std::string message = absl::StrCat(kChallengeContext, nonce);
  if (crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                  reinterpret_cast<const unsigned char*>(message.data()),
                                  message.size(),
                                  reinterpret_cast<const unsigned char*>(public_key.data())) != 0) {
    return absl::UnauthenticatedError(
        absl::StrCat("the signature does not verify: sign \"", kChallengeContext,
                     "\" followed by the challenge nonce with the key's Ed25519 secret key"));
  }
  return absl::OkStatus();
}

std::string KeyHex(absl::string_view key) { return absl::BytesToHexString(key); }

bool KeyFromHex(absl::string_view hex, std::string* key) {
  if (hex.size() != 2 * kPublicKeyBytes) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  *key = absl::HexStringToBytes(hex);
  return true;
}

}  // namespace warden::control::signal
