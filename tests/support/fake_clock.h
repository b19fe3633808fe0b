#pragma once

// A Clock that moves only when the test says so, for the control plane's
// decisions and time limits (ControlPlaneConfig::policy_clock) and the
// agent's drivers; thread-safe, so their own threads may read it while the
// test moves it.

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"

namespace warden::testing {

class FakeClock final : public Clock {
 public:
  // Starts at the present, in whole seconds: what WireGuard reports
  // (handshake times) has no finer grain, and the control plane's SQL
  // compares with the database's real now().
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now())))
      : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Set(absl::Time now) {
    absl::MutexLock lock(&mu_);
    now_ = now;
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
