#include "controlplane/dispatch/ack_waiters.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace warden::control::dispatch {

void AckWaiters::Await(int64_t command_id, absl::Time deadline, Done done) {
  absl::MutexLock lock(&mu_);
  waiters_[command_id].push_back(Waiter{.deadline = deadline, .done = std::move(done)});
}

int AckWaiters::Resolve(int64_t command_id, const absl::StatusOr<model::CommandOutcome>& outcome) {
  std::vector<Waiter> waiting;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(command_id);
    if (it == waiters_.end()) return 0;
    waiting.swap(it->second);
    waiters_.erase(it);
  }
  for (Waiter& waiter : waiting) std::move(waiter.done)(outcome);
  return static_cast<int>(waiting.size());
}

int AckWaiters::Expire(absl::Time now) {
  std::vector<std::pair<int64_t, Waiter>> expired;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      std::erase_if(it->second, [&](Waiter& waiter) {
        if (waiter.deadline > now) return false;
        expired.emplace_back(it->first, std::move(waiter));
        return true;
      });
      it = it->second.empty() ? waiters_.erase(it) : std::next(it);
    }
  }
  for (auto& [id, waiter] : expired) {
    std::move(waiter.done)(absl::DeadlineExceededError(
        absl::StrCat("command ", id, " is still pending: its agent has not acknowledged it yet")));
  }
  return static_cast<int>(expired.size());
}

void AckWaiters::CancelAll(const absl::Status& status) {
  std::map<int64_t, std::vector<Waiter>> waiters;
  {
    absl::MutexLock lock(&mu_);
    waiters.swap(waiters_);
  }
  for (auto& [id, list] : waiters) {
    for (Waiter& waiter : list) std::move(waiter.done)(status);
  }
}

bool AckWaiters::Waiting(int64_t command_id) const {
  absl::MutexLock lock(&mu_);
  return waiters_.contains(command_id);
}

std::vector<int64_t> AckWaiters::Waited() const {
  std::vector<int64_t> ids;
  absl::MutexLock lock(&mu_);
  for (const auto& [id, list] : waiters_) ids.push_back(id);
  return ids;
}

}  // namespace warden::control::dispatch
