#pragma once

// Exponential backoff with full jitter for reconnect loops: each delay is
// uniform in [0, min(cap, initial * 2^attempt)], so that a fleet of agents
// cut off together does not come back in lockstep.

#include <cstdint>
#include <random>

#include "absl/time/time.h"

namespace warden {

class Backoff {
 public:
  Backoff(absl::Duration initial, absl::Duration cap, uint64_t seed = std::random_device{}());

  absl::Duration Next();
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  const absl::Duration initial_;
  const absl::Duration cap_;
  int attempt_ = 0;
  std::mt19937_64 random_;
};

}  // namespace warden
