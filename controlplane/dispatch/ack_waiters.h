#pragma once

// Callers waiting for an agent's answer to a command (KillSession with
// wait). A waiter is resolved from the answer itself: by this replica's
// reports as soon as it records the agent's acknowledgement, or — for an
// answer recorded on another replica, or a command settled without one — by
// whoever read the outcome after NOTIFY warden_acks. Past its deadline a
// waiter hears DEADLINE_EXCEEDED.
//
// Bookkeeping only: no database, no clock of its own (`now` comes in), no
// callback run under the lock. Each waiter's `done` runs exactly once, on
// the thread that resolves, expires or cancels it.

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controlplane/model/command.h"

namespace warden::control::dispatch {

class AckWaiters {
 public:
  using Done = absl::AnyInvocable<void(absl::StatusOr<model::CommandOutcome>) &&>;

  void Await(int64_t command_id, absl::Time deadline, Done done);
  // Every waiter of the command hears `outcome` (an answer, settled or
  // retrying). Returns how many there were.
  int Resolve(int64_t command_id, const absl::StatusOr<model::CommandOutcome>& outcome);
  // Waiters whose deadline is at or before `now` hear DEADLINE_EXCEEDED.
  int Expire(absl::Time now);
  // Every waiter hears `status` (shutdown).
  void CancelAll(const absl::Status& status);

  bool Waiting(int64_t command_id) const;
  // The commands someone waits for (to read again after a missed NOTIFY).
  std::vector<int64_t> Waited() const;

 private:
  struct Waiter {
    absl::Time deadline;
    Done done;
  };

  mutable absl::Mutex mu_;
  std::map<int64_t, std::vector<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::control::dispatch
