#pragma once

// Ends live sessions whose time limits ran out (maximum session length,
// idleness, account or device expiry) through the acknowledged kill path,
// and announces accounts about to expire (user.expiring). Every replica
// runs one; PolicyStore splits the due work between them (SKIP LOCKED).
// It sleeps until the earliest due time (at most `max_wait`), so its cost
// follows what is due, not what is live.

#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "controlplane/store/policy_store.h"

namespace warden::control::admission {

struct PolicySweeperOptions {
  // Longest sleep between sweeps, whatever is due (new sessions may come
  // due earlier than anything seen): also how late an ending may be.
  absl::Duration max_wait = absl::Seconds(5);
  int batch = 500;
  absl::Duration expiry_warning = absl::Hours(72);
};

class PolicySweeper {
 public:
  PolicySweeper(PolicySweeperOptions options, store::PolicyStore& store, const Clock& clock,
                metrics::Registry& metrics);
  ~PolicySweeper();

  void Start();
  void Stop();

  // One round: announce expiring accounts, then end or reschedule due
  // sessions in batches until none is left. Returns the sessions ended.
  int SweepOnce();

 private:
  void Run();

  const PolicySweeperOptions options_;
  store::PolicyStore& store_;
  const Clock& clock_;
  metrics::Family<metrics::Counter>& ended_;
  metrics::Histogram& duration_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace warden::control::admission
