#include "agent/core/usage_sequence.h"

#include <algorithm>

namespace warden::agent {

int64_t UsageSequence::Next() {
  const int64_t now = absl::ToUnixMicros(clock_.Now());
  int64_t last = last_.load();
  int64_t next;
  do {
    next = std::max(last + 1, now);
  } while (!last_.compare_exchange_weak(last, next));
  return next;
}

}  // namespace warden::agent
