#pragma once

// The unpadded base64url of JOSE (RFC 7515 section 2), read strictly: only
// the 64 letters of its alphabet, no padding, no whitespace, so a token has
// exactly one spelling that this code accepts.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::control::oidc {

// The bytes `encoded` stands for; INVALID_ARGUMENT when it is not unpadded
// base64url.
absl::StatusOr<std::string> DecodeBase64Url(absl::string_view encoded);

}  // namespace warden::control::oidc
