#pragma once

// A username and password checked the one way Warden checks them: the stored
// argon2id hash is looked up, then verified on the hasher's bounded pool
// (slow and memory-hungry by design, so never on a database worker and never
// under a row lock); an unknown user is verified against a decoy hash, so
// that it costs the same time as a wrong password. The answer comes back on
// a database worker. Used by admissions (VPN logins) and SessionService.Login,
// each through an instance of its own bound to its own lane of the hasher,
// so that a flood of logins cannot take the threads VPN logins need (see
// common/password_hasher.h).

#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/password_hasher.h"
#include "common/worker_pool.h"
#include "controlplane/model/user.h"
#include "controlplane/store/user_store.h"

namespace warden::control::admission {

struct PasswordCheckResult {
  std::optional<model::User> user;  // the user, when the username exists
  bool verified = false;            // the user exists and the password is theirs
};

class PasswordCheck {
 public:
  PasswordCheck(store::UserStore& users, PasswordHasher& hasher, WorkerPool& db_workers,
                PasswordHasher::Lane lane);

  using Done = absl::AnyInvocable<void(absl::StatusOr<PasswordCheckResult>) &&>;
  // Call from a database worker. `done` runs exactly once: on a database
  // worker, or at once when a pool refuses the work: RESOURCE_EXHAUSTED, or
  // UNAVAILABLE from a saturated admission lane (see PasswordHasher).
  void Check(const std::string& username, std::string password, absl::Time deadline, Done done);

 private:
  absl::Status Overloaded() const;

  store::UserStore& users_;
  PasswordHasher& hasher_;
  WorkerPool& db_workers_;
  const PasswordHasher::Lane lane_;
  const std::string decoy_hash_;
};

}  // namespace warden::control::admission
