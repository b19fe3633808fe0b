#pragma once

// A signalling member is an Ed25519 key, proven by signing a fresh server
// challenge. The signed bytes are kChallengeContext followed by the nonce, so
// a signature made for Warden cannot be replayed as a signature of anything
// else the key signs, and the other way round.

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace warden::control::signal {

inline constexpr absl::string_view kChallengeContext = "warden-signal-v1:";
inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kPublicKeyBytes = 32;
inline constexpr size_t kSignatureBytes = 64;

// kNonceBytes of OS randomness.
std::string NewNonce();

// OK when `signature` is the key's signature of kChallengeContext + nonce;
// UNAUTHENTICATED otherwise, INVALID_ARGUMENT for malformed sizes.
absl::Status VerifyChallenge(absl::string_view public_key, absl::string_view nonce,
                             absl::string_view signature);

// Lowercase hex of a key, the form rooms store; and back (false when `hex`
// is not 64 lowercase hex digits).
std::string KeyHex(absl::string_view key);
bool KeyFromHex(absl::string_view hex, std::string* key);

// A fresh connection id: 32 lowercase hex digits.
std::string NewConnectionId();

}  // namespace warden::control::signal
