#include "controlplane/families/login.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/secrets.h"
#include "common/status_macros.h"
#include "controlplane/families/refresh.h"

namespace warden::control::families {

absl::StatusOr<std::string> LoginUser(const admission::PasswordCheckResult& checked,
                                      LoginThrottle& throttle, const std::string& username) {
  if (!checked.verified) return absl::UnauthenticatedError("unknown user or wrong password");
  throttle.Succeeded(username);
  if (checked.user->disabled) {
    return absl::PermissionDeniedError(
        absl::StrCat("user ", checked.user->username, " is disabled"));
  }
  return checked.user->id;
}

void Logins::Login(LoginInput input, absl::Time deadline, Done done) {
  const std::string username = input.username;
  std::string password = std::move(input.password);
  passwords_.Check(username, std::move(password), deadline,
                   [this, input = std::move(input), done = std::move(done)](
                       absl::StatusOr<admission::PasswordCheckResult> checked) mutable {
                     if (!checked.ok()) return std::move(done)(checked.status());
                     absl::StatusOr<std::string> user_id =
                         LoginUser(*checked, throttle_, input.username);
                     if (!user_id.ok()) return std::move(done)(user_id.status());
                     std::move(done)(CreateFamily(families_, *user_id, input.device_label,
                                                  input.client_address, store::LoginMethod{}));
                   });
}

absl::StatusOr<NewLogin> CreateFamily(store::FamilyStore& families, const std::string& user_id,
                                      const std::string& device_label,
                                      const std::string& client_address,
                                      const store::LoginMethod& method) {
  NewLogin login{.access_token = secrets::NewToken(kAccessTokenPrefix),
                 .refresh_token = secrets::NewToken(kRefreshTokenPrefix),
                 .family_id = "",
                 .access_expires_at = absl::InfinitePast(),
                 .family_expires_at = absl::InfinitePast()};
  WARDEN_ASSIGN_OR_RETURN(
      store::IssuedLogin issued,
      families.Create(user_id, device_label, secrets::Sha256Hex(login.refresh_token),
                      secrets::Sha256Hex(login.access_token), client_address, method));
  login.family_id = issued.family_id;
  login.access_expires_at = issued.access_expires_at;
  login.family_expires_at = issued.family_expires_at;
  return login;
}

}  // namespace warden::control::families
