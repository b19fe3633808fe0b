#include "common/backoff.h"

#include <algorithm>

namespace warden {

Backoff::Backoff(absl::Duration initial, absl::Duration cap, uint64_t seed)
    : initial_(initial), cap_(cap), random_(seed) {}

absl::Duration Backoff::Next() {
  absl::Duration ceiling = initial_;
  for (int i = 0; i < attempt_ && ceiling < cap_; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, cap_);
  if (attempt_ < 64) ++attempt_;
  std::uniform_real_distribution<double> fraction(0.0, 1.0);
  return ceiling * fraction(random_);
}

}  // namespace warden
