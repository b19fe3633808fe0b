#include "controlplane/families/call_throttle.h"

namespace warden::control::families {

CallThrottle::CallThrottle(CallThrottleOptions options, const Clock& clock)
    : clock_(clock), buckets_(options.rule, options.max_keys) {}

BucketStep CallThrottle::Attempt(const std::string& key) {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  const BucketStep step = buckets_.Check(key, now);
  if (step.allowed && !buckets_.rule().unlimited()) buckets_.Commit(key, step.tat, now);
  return step;
}

size_t CallThrottle::keys() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

}  // namespace warden::control::families
