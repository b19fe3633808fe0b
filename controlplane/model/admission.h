#pragma once

// The values an admission decision is made from and made of. The rule itself
// is admission::Decide; the store runs it inside the transaction that holds
// the user's row lock.

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controlplane/model/user.h"

namespace warden::control::model {

struct UserLimits {
  int max_connections = 0;  // 0 = unlimited
  LimitPolicy policy = LimitPolicy::kEvictOldest;
  int grace_seconds = 0;
  bool disabled = false;
};

// One of the user's sessions that is not closed.
struct LiveSession {
  std::string id;
  std::string node_name;
  absl::Time opened_at;
  // A closing session was evicted or killed already; its seat is free.
  bool closing = false;
};

enum class DenyReason { kBadCredentials, kUserDisabled, kDeviceLimitReached, kNodeDraining };

struct Decision {
  bool admit = false;
  DenyReason reason = DenyReason::kBadCredentials;  // when !admit
  std::string message;                              // when !admit: for the user
  std::vector<std::string> evict;                   // session ids to kill, oldest first
  absl::Time kill_due;                              // when the evictions' kills are sent
};

}  // namespace warden::control::model
