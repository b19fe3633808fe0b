#include "bench/fleet/live_sessions.h"

#include <algorithm>

namespace warden::bench {

void LiveSessions::Add(LiveSession session) {
  absl::MutexLock lock(&mu_);
  if (index_.contains(session.session_id)) return;
  index_.emplace(session.session_id, sessions_.size());
  sessions_.push_back(std::move(session));
}

bool LiveSessions::Remove(const std::string& session_id) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(session_id);
  if (it == index_.end()) return false;
  TakeAt(it->second);
  return true;
}

std::optional<LiveSession> LiveSessions::TakeRandom(std::mt19937_64& random,
                                                    absl::FunctionRef<bool(int agent)> wanted,
                                                    int draws) {
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < draws && !sessions_.empty(); ++i) {
    const size_t at = std::uniform_int_distribution<size_t>(0, sessions_.size() - 1)(random);
    if (!wanted(sessions_[at].agent)) continue;
    return TakeAt(at);
  }
  return std::nullopt;
}

LiveSession LiveSessions::TakeAt(size_t at) {
  LiveSession taken = std::move(sessions_[at]);
  index_.erase(taken.session_id);
  if (at + 1 != sessions_.size()) {
    sessions_[at] = std::move(sessions_.back());
    index_[sessions_[at].session_id] = at;
  }
  sessions_.pop_back();
  return taken;
}

size_t LiveSessions::size() const {
  absl::MutexLock lock(&mu_);
  return sessions_.size();
}

void KillClock::Sent(const std::string& session_id, absl::Time at) {
  absl::MutexLock lock(&mu_);
  pending_[session_id] = at;
}

void KillClock::Received(const std::string& session_id, absl::Time at) {
  absl::MutexLock lock(&mu_);
  auto it = pending_.find(session_id);
  if (it == pending_.end()) return;
  latencies_ms_.push_back(absl::ToDoubleMilliseconds(at - it->second));
  pending_.erase(it);
}

void KillClock::Failed(const std::string& session_id) {
  absl::MutexLock lock(&mu_);
  if (pending_.erase(session_id) > 0) ++failed_;
}

std::vector<double> KillClock::LatenciesMs() const {
  absl::MutexLock lock(&mu_);
  std::vector<double> sorted = latencies_ms_;
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

size_t KillClock::pending() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

int KillClock::failed() const {
  absl::MutexLock lock(&mu_);
  return failed_;
}

}  // namespace warden::bench
