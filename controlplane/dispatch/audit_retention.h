#pragma once

// Keeps the audit log to its retention period. Every replica runs the sweep
// on its own timer; each round deletes the expired events oldest first, in
// batches of `batch` rows (one short statement each, so no long lock and no
// long transaction), up to `max_batches` a round. Batches skip rows another
// replica is deleting (SKIP LOCKED), so replicas sweeping at once split the
// work instead of queueing behind each other.

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "controlplane/store/audit_store.h"

namespace warden::control::dispatch {

struct AuditRetentionOptions {
  // Events older than this go; zero keeps them forever (no sweep runs).
  absl::Duration retention = absl::Hours(24 * 400);
  absl::Duration interval = absl::Minutes(1);
  int batch = 1000;
  int max_batches = 100;
};

class AuditRetention {
 public:
  AuditRetention(store::AuditStore& audit, AuditRetentionOptions options,
                 metrics::Registry& metrics);
  ~AuditRetention();

  void Start();
  void Stop();
  // One round now; the number of events deleted.
  int64_t SweepOnce();

 private:
  store::AuditStore& audit_;
  const AuditRetentionOptions options_;
  metrics::Counter& expired_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace warden::control::dispatch
