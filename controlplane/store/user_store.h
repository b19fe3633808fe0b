#pragma once

#include <span>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "controlplane/model/admission.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/user.h"

namespace warden::control::store {

class Database;

absl::string_view PolicyName(model::LimitPolicy policy);

// The domain's rule for what a user's limits mean for their live sessions
// (admission::ApplyPolicy): the limits, the live sessions, the reason for
// sessions over a cap → which end and when the others are next due.
using PolicyApplier = absl::FunctionRef<model::LiveSessionsChange(
    const model::UserLimits&, std::span<const model::LiveSession>, const std::string&)>;

// Users and their limits. Every change writes its audit event in the same
// transaction.
class UserStore {
 public:
  explicit UserStore(Database& db) : db_(db) {}

  absl::StatusOr<model::User> Create(const model::Actor& actor, const model::NewUser& user);
  absl::StatusOr<model::User> GetById(const std::string& id);
  absl::StatusOr<model::User> GetByUsername(const std::string& username);
  // Usernames starting with `prefix`, after `after_username`, in order.
  absl::StatusOr<model::UserPage> List(const std::string& prefix, const std::string& after_username,
                                       int limit);
  // Applies the changes and what they mean for the user's live sessions,
  // in one transaction: disabling kills every one of them (reason
  // user_disabled); a new password revokes the user's login families and
  // their tunnels (unless keep_logins); a changed limit, plan or expiry is
  // applied to the live sessions by `apply` (see
  // ApplyPolicyToUserInTransaction). NOT_FOUND for an unknown user or plan.
  absl::StatusOr<model::User> Update(const model::Actor& actor, const std::string& id,
                                     const model::UserChanges& changes, PolicyApplier apply);
  absl::Status Delete(const model::Actor& actor, const std::string& id);

  // The password hash of an enabled or disabled user, for verification;
  // NOT_FOUND when the user does not exist or has no password.
  absl::StatusOr<std::pair<model::User, std::string>> GetWithPasswordHash(
      const std::string& username);

 private:
  Database& db_;
};

}  // namespace warden::control::store
