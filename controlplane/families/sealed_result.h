#pragma once

// A rotation's fresh tokens, kept for a retry of the same refresh without
// ever being readable from the database: sealed (XSalsa20-Poly1305) under a
// key derived from the spent refresh token and the request's request_id,
// neither of which Warden stores. Only the caller that made the request can
// open it.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::control::families {

std::string SealResult(absl::string_view plaintext, absl::string_view refresh_token,
                       absl::string_view request_id);

// NOT_FOUND when the box does not open with this token and request_id.
absl::StatusOr<std::string> OpenResult(absl::string_view sealed, absl::string_view refresh_token,
                                       absl::string_view request_id);

// A value Warden must keep but must not be able to use alone (a single
// sign-on login's PKCE verifier or device code), sealed under a secret only
// the client holds (its login handle) and Warden stores only as SHA-256.
// `purpose` separates boxes: one sealed for one purpose never opens as
// another.
std::string SealUnderSecret(absl::string_view plaintext, absl::string_view secret,
                            absl::string_view purpose);
// NOT_FOUND when the box does not open with this secret and purpose.
absl::StatusOr<std::string> OpenUnderSecret(absl::string_view sealed, absl::string_view secret,
                                            absl::string_view purpose);

}  // namespace warden::control::families
