#include "controlplane/admission/password_check.h"

#include <memory>

#include "common/secrets.h"

namespace warden::control::admission {

PasswordCheck::PasswordCheck(store::UserStore& users, PasswordHasher& hasher,
                             WorkerPool& db_workers, PasswordHasher::Lane lane)
    : users_(users),
      hasher_(hasher),
      db_workers_(db_workers),
      lane_(lane),
      decoy_hash_(secrets::HashPassword(secrets::NewToken(""), hasher.cost()).value_or("")) {}

absl::Status PasswordCheck::Overloaded() const {
  // As the hasher's own admission lane answers: the agent's fail rule decides.
  if (lane_ == PasswordHasher::Lane::kAdmission) {
    return absl::UnavailableError("the server is overloaded; retry in a moment");
  }
  return OverloadedError();
}

void PasswordCheck::Check(const std::string& username, std::string password, absl::Time deadline,
                          Done done) {
  absl::StatusOr<std::pair<model::User, std::string>> found = users_.GetWithPasswordHash(username);
  if (!found.ok() && found.status().code() != absl::StatusCode::kNotFound) {
    std::move(done)(found.status());
    return;
  }
  PasswordCheckResult result;
  std::string hash = decoy_hash_;
  if (found.ok()) {
    result.user = std::move(found->first);
    hash = std::move(found->second);
  }
  hasher_.Verify(
      std::move(password), std::move(hash), deadline,
      [this, result = std::move(result),
       done = std::move(done)](absl::StatusOr<bool> verified) mutable {
        if (!verified.ok()) {
          std::move(done)(verified.status());
          return;
        }
        result.verified = result.user.has_value() && *verified;
        // Back from the hasher thread to a database worker.
        auto holder = std::make_shared<Done>(std::move(done));
        const bool queued = db_workers_.TrySubmit(
            [holder, result]() mutable { std::move (*holder)(std::move(result)); });
        if (!queued) std::move (*holder)(Overloaded());
      },
      lane_);
}

}  // namespace warden::control::admission
