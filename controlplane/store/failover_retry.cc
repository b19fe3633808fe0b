#include "controlplane/store/failover_retry.h"

#include <algorithm>

#include "absl/random/random.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace warden::control::store {
namespace {

thread_local std::optional<absl::Time> call_deadline;

constexpr char kPoolBusyPayload[] = "warden.store/pool-busy";

}  // namespace

CallDeadlineScope::CallDeadlineScope(absl::Time deadline) : previous_(call_deadline) {
  call_deadline = deadline;
}

CallDeadlineScope::~CallDeadlineScope() { call_deadline = previous_; }

std::optional<absl::Time> CallDeadlineScope::Current() { return call_deadline; }

absl::Status PoolBusyError(absl::Duration waited, int pool_size) {
  absl::Status status = absl::UnavailableError(
      absl::StrCat("all ", pool_size, " database connections stayed busy for ",
                   absl::FormatDuration(waited), "; retry later"));
  status.SetPayload(kPoolBusyPayload, absl::Cord());
  return status;
}

bool IsPoolBusy(const absl::Status& status) {
  return status.GetPayload(kPoolBusyPayload).has_value();
}

FailoverRetry::FailoverRetry(absl::Duration budget, std::optional<absl::Time> commit_by) {
  const std::optional<absl::Time> deadline = CallDeadlineScope::Current();
  if (!deadline || budget <= absl::ZeroDuration()) {
    give_up_at_ = absl::InfinitePast();
    return;
  }
  give_up_at_ = std::min(absl::Now() + budget, *deadline - kReserve);
  if (commit_by) give_up_at_ = std::min(give_up_at_, *commit_by - kReserve);
}

bool FailoverRetry::PauseBeforeRetry() {
  thread_local absl::BitGen random;
  const absl::Time now = absl::Now();
  if (now >= give_up_at_) return false;
  // Full jitter over the upper half: replicas and callers that lost the
  // database together do not all come back in the same millisecond. The
  // last pause is cut short so that the last attempt is made just before
  // the caller stops waiting, not a whole pause earlier.
  const absl::Duration pause =
      std::min(next_pause_ * absl::Uniform(random, 0.5, 1.0), give_up_at_ - now);
  absl::SleepFor(pause);
  next_pause_ = std::min(next_pause_ * 2, kMaxPause);
  ++retries_;
  return true;
}

}  // namespace warden::control::store
