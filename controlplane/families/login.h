#pragma once

// A password login (SessionService.Login): the password is checked the one
// way Warden checks passwords (admission::PasswordCheck, on the general lane
// of the hasher, outside any transaction), the throttle hears of a success,
// and a new family is created with its first refresh and access tokens.
// The throttle itself is asked before: on the reaction, ahead of any
// worker or password work (see LoginThrottle).

#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/admission/password_check.h"
#include "controlplane/families/login_throttle.h"
#include "controlplane/store/family_store.h"

namespace warden::control::families {

struct LoginInput {
  std::string username;  // normalised
  std::string password;
  std::string device_label;
  std::string client_address;  // the peer, for the audit event
};

struct NewLogin {
  std::string access_token;
  std::string refresh_token;
  std::string family_id;
  absl::Time access_expires_at;
  absl::Time family_expires_at;
};

// What a checked password gives: the family's user id, or why not
// (UNAUTHENTICATED for an unknown user or a wrong password, read the same;
// PERMISSION_DENIED for a disabled user). `throttle` hears of a verified
// password either way.
absl::StatusOr<std::string> LoginUser(const admission::PasswordCheckResult& checked,
                                      LoginThrottle& throttle, const std::string& username);

// A new family for a user whose identity is already proven (a password, an
// OpenID Provider), with its first tokens; audited as family.login with how.
absl::StatusOr<NewLogin> CreateFamily(store::FamilyStore& families, const std::string& user_id,
                                      const std::string& device_label,
                                      const std::string& client_address,
                                      const store::LoginMethod& method);

class Logins {
 public:
  Logins(admission::PasswordCheck& passwords, LoginThrottle& throttle, store::FamilyStore& families)
      : passwords_(passwords), throttle_(throttle), families_(families) {}

  using Done = absl::AnyInvocable<void(absl::StatusOr<NewLogin>) &&>;
  // Call from a database worker. `done` runs exactly once (see
  // PasswordCheck::Check for where).
  void Login(LoginInput input, absl::Time deadline, Done done);

 private:
  admission::PasswordCheck& passwords_;
  LoginThrottle& throttle_;
  store::FamilyStore& families_;
};

}  // namespace warden::control::families
