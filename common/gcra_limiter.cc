#include "common/gcra_limiter.h"

namespace warden {

GcraLimiter::GcraLimiter(int64_t rate_per_second, int64_t burst, int64_t now_ns)
    : origin_ns_(now_ns) {
  SetRate(rate_per_second, burst);
}

void GcraLimiter::SetRate(int64_t rate_per_second, int64_t burst) {
  if (rate_per_second <= 0) {
    ticks_per_unit_.store(0, std::memory_order_relaxed);
    return;
  }
  constexpr int64_t kTicksPerSecondFixed = int64_t{1'000'000'000} * kTicksPerNanosecond
                                           << kFractionBits;
  const int64_t per_unit = std::max<int64_t>(1, kTicksPerSecondFixed / rate_per_second);
  tolerance_.store((std::max<int64_t>(burst, 1) * per_unit) >> kFractionBits,
                   std::memory_order_relaxed);
  ticks_per_unit_.store(per_unit, std::memory_order_relaxed);
}

}  // namespace warden
