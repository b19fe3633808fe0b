#include "controlplane/dispatch/kill_retry.h"

#include <algorithm>

namespace warden::control::dispatch {

absl::Duration KillRetryDelay(int attempts) {
  constexpr absl::Duration kMax = absl::Minutes(1);
  const int doublings = std::clamp(attempts - 1, 0, 6);  // 2^6 s > one minute
  return std::min(kMax, absl::Seconds(int64_t{1} << doublings));
}

}  // namespace warden::control::dispatch
