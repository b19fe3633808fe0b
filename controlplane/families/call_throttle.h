#pragma once

// How often one user may call AccountService: a token bucket per user id,
// the login throttle's BucketTable (GCRA, bounded number of keys) behind a
// lock. Checked after the access token is known and before any other work,
// so that one user's client in a loop costs the database one token lookup a
// call, and other users nothing.
//
// Buckets live in this replica's memory: with N replicas a user may get up
// to N times the configured rate.

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "controlplane/families/login_throttle.h"

namespace warden::control::families {

struct CallThrottleOptions {
  BucketRule rule{.per_minute = 600, .burst = 30};  // 10 a second, bursts of 30
  size_t max_keys = 65536;
};

class CallThrottle {
 public:
  CallThrottle(CallThrottleOptions options, const Clock& clock);

  // One call of `key`: passes (and takes a token) or is refused with how
  // long until one would pass. Refused calls take nothing.
  BucketStep Attempt(const std::string& key);

  size_t keys() const;

 private:
  const Clock& clock_;
  mutable absl::Mutex mu_;
  BucketTable buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::control::families
