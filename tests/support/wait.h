#pragma once

// Waits poll a condition with a deadline; tests never sleep a fixed time.

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace warden::testing {

inline bool WaitFor(const std::function<bool()>& condition,
                    absl::Duration timeout = absl::Seconds(10)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return condition();
}

}  // namespace warden::testing
