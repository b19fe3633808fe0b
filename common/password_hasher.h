#pragma once

// argon2id is slow and memory-hungry by design (tens of milliseconds and
// ~64 MiB per call at the default cost). Hashing and verification run on
// their own small pool so that at most `threads` run at once: memory stays
// bounded and database work never queues behind them. A caller whose deadline
// passes while it waits gets RESOURCE_EXHAUSTED.

#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/secrets.h"
#include "common/worker_pool.h"

namespace warden {

class PasswordHasher {
 public:
  PasswordHasher(secrets::PasswordHashCost cost, int threads, size_t max_queued);

  using HashDone = absl::AnyInvocable<void(absl::StatusOr<std::string>) &&>;
  using VerifyDone = absl::AnyInvocable<void(absl::StatusOr<bool>) &&>;

  // `done` runs exactly once: on a hasher thread, or at once when the queue
  // is full.
  void Hash(std::string password, absl::Time deadline, HashDone done);
  void Verify(std::string password, std::string phc_hash, absl::Time deadline, VerifyDone done);

  // Blocking forms, for threads that may block (database workers).
  absl::StatusOr<std::string> HashAndWait(std::string password, absl::Time deadline);

  const secrets::PasswordHashCost& cost() const { return cost_; }

 private:
  const secrets::PasswordHashCost cost_;
  WorkerPool pool_;
};

}  // namespace warden
