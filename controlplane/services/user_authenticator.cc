#include "controlplane/services/user_authenticator.h"

#include "absl/strings/str_cat.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/families/refresh.h"

namespace warden::control::services {

absl::Status CheckToken(absl::string_view field, absl::string_view token,
                        absl::string_view prefix) {
  if (secrets::LooksLikeToken(token, prefix)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be \"", prefix, "\" followed by 64 lowercase hex digits"));
}

absl::StatusOr<store::AccessGrant> UserAuthenticator::Authenticate(absl::string_view field,
                                                                   absl::string_view access_token,
                                                                   bool allow_disabled) const {
  WARDEN_RETURN_IF_ERROR(CheckToken(field, access_token, families::kAccessTokenPrefix));
  WARDEN_ASSIGN_OR_RETURN(store::AccessGrant grant,
                          families_.Authenticate(secrets::Sha256Hex(access_token)));
  if (grant.user_disabled && !allow_disabled) {
    return absl::PermissionDeniedError(absl::StrCat("user ", grant.username, " is disabled"));
  }
  return grant;
}

}  // namespace warden::control::services
