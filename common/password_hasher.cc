#include "common/password_hasher.h"

#include <sodium.h>

#include "absl/synchronization/notification.h"

namespace warden {
namespace {

absl::Status Saturated() {
  return absl::ResourceExhaustedError("too many password checks in progress; retry with backoff");
}

void Wipe(std::string& secret) {
  sodium_memzero(secret.data(), secret.size());
  secret.clear();
}

}  // namespace

PasswordHasher::PasswordHasher(secrets::PasswordHashCost cost, int threads, size_t max_queued)
    : cost_(cost), pool_("warden-argon2", threads, max_queued) {}

void PasswordHasher::Hash(std::string password, absl::Time deadline, HashDone done) {
  // The task owns `done` until it runs; when the queue refuses the task, the
  // holder below still has it and answers.
  auto holder = std::make_shared<HashDone>(std::move(done));
  auto task = [this, password = std::move(password), deadline, holder]() mutable {
    if (absl::Now() > deadline) {
      Wipe(password);
      std::move (*holder)(Saturated());
      return;
    }
    absl::StatusOr<std::string> hash = secrets::HashPassword(password, cost_);
    Wipe(password);
    std::move (*holder)(std::move(hash));
  };
  if (!pool_.TrySubmit(std::move(task))) std::move (*holder)(Saturated());
}

void PasswordHasher::Verify(std::string password, std::string phc_hash, absl::Time deadline,
                            VerifyDone done) {
  auto holder = std::make_shared<VerifyDone>(std::move(done));
  auto task = [password = std::move(password), phc_hash = std::move(phc_hash), deadline,
               holder]() mutable {
    if (absl::Now() > deadline) {
      Wipe(password);
      std::move (*holder)(Saturated());
      return;
    }
    const bool ok = secrets::VerifyPassword(password, phc_hash);
    Wipe(password);
    std::move (*holder)(ok);
  };
  if (!pool_.TrySubmit(std::move(task))) std::move (*holder)(Saturated());
}

absl::StatusOr<std::string> PasswordHasher::HashAndWait(std::string password, absl::Time deadline) {
  absl::Notification done;
  absl::StatusOr<std::string> result;
  Hash(std::move(password), deadline, [&](absl::StatusOr<std::string> hash) {
    result = std::move(hash);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

}  // namespace warden
