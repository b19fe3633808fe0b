#pragma once

// Riding out a failover. While the primary changes (seconds for a planned
// switchover, about Patroni's ttl for a crash), every call that reaches the
// database fails UNAVAILABLE. A call that failed without leaving anything
// done, or whose operation may run twice, is tried again after a growing,
// jittered pause, for as long as its caller still waits: the deadline of the
// call the thread is serving (CallDeadlineScope) and the store's own bound,
// whichever is first. Work no caller waits for (the dispatcher, the sweeps)
// sets no deadline and is not retried: it runs again on its own schedule.

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace warden::control::store {

// The deadline of the call this thread works for, from construction until
// destruction (the service layer sets it around each call's work).
class CallDeadlineScope {
 public:
  explicit CallDeadlineScope(absl::Time deadline);
  ~CallDeadlineScope();
  CallDeadlineScope(const CallDeadlineScope&) = delete;
  CallDeadlineScope& operator=(const CallDeadlineScope&) = delete;

  // The innermost scope's deadline on this thread, if any.
  static std::optional<absl::Time> Current();

 private:
  std::optional<absl::Time> previous_;
};

// An Acquire that failed because every connection stayed busy: retrying
// would only queue longer behind the load, so it is never retried.
absl::Status PoolBusyError(absl::Duration waited, int pool_size);
bool IsPoolBusy(const absl::Status& status);

class FailoverRetry {
 public:
  // The first pause, and the longest.
  static constexpr absl::Duration kFirstPause = absl::Milliseconds(50);
  static constexpr absl::Duration kMaxPause = absl::Seconds(1);
  // Left for the last attempt and the answer before the caller's deadline.
  static constexpr absl::Duration kReserve = absl::Milliseconds(250);

  // Retries for at most `budget` from now, and never past the current
  // call's deadline or `commit_by` (less kReserve). A zero budget, or no
  // call deadline on this thread, means no retries.
  FailoverRetry(absl::Duration budget, std::optional<absl::Time> commit_by = std::nullopt);

  // After a failure: pauses (at most until the give-up time, for a last
  // attempt then) and returns true, or returns false at once when the
  // give-up time has come.
  bool PauseBeforeRetry();
  int retries() const { return retries_; }

 private:
  absl::Time give_up_at_;
  absl::Duration next_pause_ = kFirstPause;
  int retries_ = 0;
};

}  // namespace warden::control::store
