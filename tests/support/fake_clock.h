#pragma once

// A Clock that moves only when the test says so; thread-safe, so a driver's
// own threads may read it while the test advances it.

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace warden::testing {

// Unix time a fake clock starts at: a plausible present.
inline constexpr int64_t kFakeClockStartUnix = 1795415224;

class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(kFakeClockStartUnix)) : now_(start) {}

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
