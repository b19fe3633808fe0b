#pragma once

#include <atomic>
#include <cstdint>

#include "common/clock.h"

namespace warden::agent {

// Sequence numbers for usage samples (SessionUsage.sequence): microseconds
// of the node's clock, kept strictly increasing. Taking the clock rather
// than a counter is what lets them keep growing across agent restarts
// without a file, so the control plane can tell a redelivered sample from
// a new one whatever happened to this process in between.
class UsageSequence {
 public:
  explicit UsageSequence(const Clock& clock) : clock_(clock) {}

  int64_t Next();

 private:
  const Clock& clock_;
  std::atomic<int64_t> last_{0};
};

}  // namespace warden::agent
