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

}  // namespace warden::control::families
