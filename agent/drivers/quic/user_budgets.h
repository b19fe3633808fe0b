#pragma once

// One bandwidth budget per user on this node, shared by every QUIC
// connection of that user and by both directions (a GcraLimiter each). A
// budget lives while the user has a connection here. Users without a limit
// get an unlimited limiter, which costs one load per packet.
//
// Owned by the QUIC event loop (not thread-safe); the limiters themselves
// may be read from any thread.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "common/gcra_limiter.h"

namespace warden::agent::quic {

class UserBudgets {
 public:
  // The user's budget, made or updated to `bytes_per_second` (the newest
  // admission carries the newest limit).
  std::shared_ptr<GcraLimiter> Acquire(const std::string& username, int64_t bytes_per_second,
                                       int64_t now_ns);
  // One connection of the user is gone.
  void Release(const std::string& username);
  // SET_BANDWIDTH or a user update: false when the user has no connection here.
  bool SetRate(const std::string& username, int64_t bytes_per_second);

  size_t users() const { return budgets_.size(); }
  // The current rate of a user's budget (-1 when none), for tests and logs.
  int64_t RateOf(const std::string& username) const;

 private:
  struct Budget {
    std::shared_ptr<GcraLimiter> limiter;
    int64_t bytes_per_second = 0;
    int connections = 0;
  };
  absl::flat_hash_map<std::string, Budget> budgets_;
};

}  // namespace warden::agent::quic
