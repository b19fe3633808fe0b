#pragma once

// Time enters the domain through this interface so tests can move it.

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace warden {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  static const Clock& Get() {
    static const RealClock clock;
    return clock;
  }
};

}  // namespace warden
