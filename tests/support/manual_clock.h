#pragma once

// A clock that moves only when a test moves it (Envoy's simulated time, in
// small): handed to code that takes a `const Clock&`, it lets a test step
// past a grace period instead of sleeping through it. Thread-safe: the code
// under test reads it from its own threads.

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace warden::testing {

class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::Now()) : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration by) {
    absl::MutexLock lock(&mu_);
    now_ += by;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::testing
