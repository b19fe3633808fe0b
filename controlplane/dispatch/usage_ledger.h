#pragma once

// Counts what agents report of their sessions' traffic into the usage
// ledger, and holds users to their data quotas.
//
// Group commit: samples from every stream queue here and one thread applies
// whatever has gathered in one transaction (store::UsageStore::Apply), then
// runs each sample's `applied`, so the stream that sent it reads on. A busy
// database makes the batches bigger instead of the queue longer: each
// stream has at most one sample waiting. A batch that fails is logged and
// released all the same: samples are totals, and the next one of the same
// session carries what this one would have counted.
//
// When counted traffic changes a user's standing against their quota (80 %,
// 100 %, or under it again), the quota is settled through Commands (audit,
// kills or throttling, delivered at once). The same thread, once a
// `sweep_interval`, settles users whose window moved on without traffic
// (a rolling window freeing bytes, a new month). Day rows older than their
// retention go with their partition (history_retention.h).

#include <deque>
#include <thread>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "controlplane/model/usage.h"
#include "controlplane/store/usage_store.h"

namespace warden::control::dispatch {

class Commands;

struct UsageLedgerOptions {
  size_t max_batch = 5000;
  size_t max_queued = 100000;
  absl::Duration sweep_interval = absl::Minutes(1);
};

class UsageLedger {
 public:
  using Applied = absl::AnyInvocable<void() &&>;

  UsageLedger(UsageLedgerOptions options, store::UsageStore& usage, Commands& commands,
              const Clock& clock, metrics::Registry& metrics);
  ~UsageLedger();

  void Start();
  void Stop();

  // False when the queue is full: nothing was done and `applied` will not run.
  bool Submit(model::UsageReport report, Applied applied);

  // Traffic counted elsewhere (a session's final counters, counted with its
  // close): exported, and the standings it changed are settled here.
  void Counted(store::LedgerUpdate update);

 private:
  struct Pending {
    model::UsageReport report;
    Applied applied;
  };

  void Run();
  void ApplyBatch(std::vector<Pending> batch);
  void Export(const std::vector<model::TrafficCount>& traffic);
  void SettleChanged(const std::vector<model::QuotaStanding>& standings);
  void Settle(const std::string& user_id);
  void Sweep();

  const UsageLedgerOptions options_;
  store::UsageStore& usage_;
  Commands& commands_;
  const Clock& clock_;
  metrics::Family<metrics::Counter>& traffic_bytes_;
  metrics::Family<metrics::Counter>& samples_;
  metrics::Family<metrics::Counter>& quota_actions_;
  metrics::Histogram& apply_seconds_;

  absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<store::LedgerUpdate> counted_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace warden::control::dispatch
