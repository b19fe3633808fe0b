#pragma once

// The user an access token ("wat_" + 64 hex, from SessionService.Login or
// Refresh) speaks for: SessionService reads it from the request, every
// AccountService call from `authorization: Bearer wat_...`.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/store/family_store.h"

namespace warden::control::services {

// INVALID_ARGUMENT naming `field` unless `token` is `prefix` followed by 64
// lowercase hex digits.
absl::Status CheckToken(absl::string_view field, absl::string_view token, absl::string_view prefix);

class UserAuthenticator {
 public:
  explicit UserAuthenticator(store::FamilyStore& families) : families_(families) {}

  // INVALID_ARGUMENT for a malformed token (`field` names where it came
  // from); UNAUTHENTICATED, with one message, for one Warden does not
  // accept; PERMISSION_DENIED for a disabled user unless `allow_disabled`
  // (ending or reading things is left to a disabled user).
  absl::StatusOr<store::AccessGrant> Authenticate(absl::string_view field,
                                                  absl::string_view access_token,
                                                  bool allow_disabled) const;

 private:
  store::FamilyStore& families_;
};

}  // namespace warden::control::services
