#pragma once

// A fixed set of threads with a bounded queue. gRPC reactions hand blocking
// work (database calls, password hashing) to a pool and return at once; the
// pool completes the call. When the queue is full, TrySubmit says so and the
// caller answers RESOURCE_EXHAUSTED instead of queueing without bound.

#include <cstddef>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace warden {

// What a caller answers when TrySubmit refuses its work (RESOURCE_EXHAUSTED).
absl::Status OverloadedError();

class WorkerPool {
 public:
  WorkerPool(std::string name, int threads, size_t max_queued);
  ~WorkerPool();  // runs what is queued, then joins

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False when the queue is full or the pool is shutting down; the task is
  // then dropped unrun and the caller must answer its request itself.
  bool TrySubmit(absl::AnyInvocable<void() &&> task);

  // Stops accepting work, runs what is queued, joins the threads.
  void Shutdown();

  size_t queued() const;
  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Run();
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  const std::string name_;
  const size_t max_queued_;
  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace warden
