#pragma once

// A rate limit as GCRA (the generic cell rate algorithm): a token bucket kept
// as one number, the "theoretical arrival time" (TAT) at which the budget
// would be whole again. A request of `cost` units passes when, after
// charging it, the TAT is no further ahead of now than the burst allows. One
// atomic compare-and-swap per decision: no lock, so many threads (all
// connections of one user, both directions) share one limiter.
//
// Time is the caller's monotonic clock in nanoseconds, read once per batch
// of decisions; the limiter keeps it in 1/16 ns ticks since its creation
// (good for 18 years). Rates are exact to better than 0.1 % up to 10^9 units
// a second.

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace warden {

class GcraLimiter {
 public:
  // `rate_per_second` 0 = unlimited. `burst`: units that may pass at once
  // from a full budget (at least the largest single cost, or that never
  // passes).
  GcraLimiter(int64_t rate_per_second, int64_t burst, int64_t now_ns);

  // Takes effect for the next decision; the debt already run up stays.
  void SetRate(int64_t rate_per_second, int64_t burst);

  // True when `cost` units may pass at `now_ns`; they are then charged.
  bool TryTake(int64_t cost, int64_t now_ns) {
    const int64_t per_unit = ticks_per_unit_.load(std::memory_order_relaxed);
    if (per_unit == 0) return true;
    const int64_t now = (now_ns - origin_ns_) * kTicksPerNanosecond;
    const int64_t charge = (cost * per_unit) >> kFractionBits;
    const int64_t tolerance = tolerance_.load(std::memory_order_relaxed);
    int64_t tat = tat_.load(std::memory_order_relaxed);
    while (true) {
      const int64_t next = std::max(tat, now) + charge;
      if (next - now > tolerance) return false;
      if (tat_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) return true;
    }
  }

  bool unlimited() const { return ticks_per_unit_.load(std::memory_order_relaxed) == 0; }

  // Warden's bandwidth rule: a burst of one second of the rate, at least 64 KiB.
  static int64_t BandwidthBurst(int64_t bytes_per_second) {
    return std::max<int64_t>(64 * 1024, bytes_per_second);
  }

 private:
  static constexpr int64_t kTicksPerNanosecond = 16;
  static constexpr int kFractionBits = 8;  // of ticks_per_unit_

  const int64_t origin_ns_;
  std::atomic<int64_t> tat_{0};
  std::atomic<int64_t> ticks_per_unit_{0};  // fixed point, kFractionBits; 0 = unlimited
  std::atomic<int64_t> tolerance_{0};       // ticks
};

}  // namespace warden
