#pragma once

// Secrets Warden hands out or receives: random bearer tokens (API keys,
// tickets, node credentials, refresh tokens) stored only as SHA-256, and
// passwords stored only as argon2id hashes.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::secrets {

// `prefix` followed by 64 lowercase hex digits of 32 bytes of OS randomness,
// e.g. "wak_3f9c...".
std::string NewToken(absl::string_view prefix);

// `n` bytes of OS randomness (challenges, ids).
std::string RandomBytes(size_t n);

// True when `token` is `prefix` + exactly 64 lowercase hex digits.
bool LooksLikeToken(absl::string_view token, absl::string_view prefix);

// Lowercase hex SHA-256 of `data`: the form in which tokens are stored.
std::string Sha256Hex(absl::string_view data);

// Equality whose running time depends only on the lengths of the inputs.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

struct PasswordHashCost {
  // argon2id parameters; libsodium's "interactive" level by default.
  uint64_t ops_limit = 2;
  uint64_t mem_limit_bytes = 64ull << 20;
};

// An argon2id hash in PHC string form ("$argon2id$v=19$m=...").
absl::StatusOr<std::string> HashPassword(absl::string_view password, const PasswordHashCost& cost);

// Verifies `password` against an argon2id PHC string; the parameters come
// from the string itself, so hashes made with another cost still verify.
bool VerifyPassword(absl::string_view password, const std::string& phc_hash);

}  // namespace warden::secrets
