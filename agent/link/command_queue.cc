#include "agent/link/command_queue.h"

#include <algorithm>
#include <utility>

namespace warden::agent {

CommandQueue::CommandQueue(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

bool CommandQueue::Push(v1::Command command) {
  absl::MutexLock lock(&mu_);
  auto room = [this]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || unanswered_ < capacity_; };
  mu_.Await(absl::Condition(&room));
  if (closed_) return false;
  waiting_.push_back(std::move(command));
  ++unanswered_;
  return true;
}

std::optional<v1::Command> CommandQueue::Next() {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || !waiting_.empty(); };
  mu_.Await(absl::Condition(&ready));
  if (closed_) return std::nullopt;
  v1::Command command = std::move(waiting_.front());
  waiting_.pop_front();
  return command;
}

void CommandQueue::Answered() {
  absl::MutexLock lock(&mu_);
  if (unanswered_ > 0) --unanswered_;
}

void CommandQueue::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool CommandQueue::full() const {
  absl::MutexLock lock(&mu_);
  return unanswered_ >= capacity_;
}

size_t CommandQueue::unanswered() const {
  absl::MutexLock lock(&mu_);
  return unanswered_;
}

}  // namespace warden::agent
