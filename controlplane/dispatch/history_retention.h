#pragma once

// Keeps the history tables (store/history_store.h) partitioned ahead and
// within their retention. Every replica runs it on its own timer: each round
// makes the partitions the coming spans need and drops, oldest first, the
// partitions whose every row is older than their table's retention. Rows are
// so kept for at least the retention and at most one span (a month; a week
// for webhook deliveries) longer. Replicas take turns through an advisory
// lock; one that finds it taken leaves the round to the other.

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "controlplane/store/history_store.h"

namespace warden::control::dispatch {

struct HistoryRetentionOptions {
  // (table, retention) of each history table; zero keeps its rows forever.
  std::vector<std::pair<std::string, absl::Duration>> retention;
  absl::Duration interval = absl::Minutes(1);
  // Spans made ahead of the current one: writes never lack a partition
  // while at least one replica ran in the last `ahead` spans.
  int ahead = 2;
};

class HistoryRetention {
 public:
  HistoryRetention(store::HistoryStore& history, HistoryRetentionOptions options,
                   metrics::Registry& metrics);
  ~HistoryRetention();

  // Runs a first round before it returns, so a replica that starts after a
  // long outage makes the partitions it is about to write to.
  void Start();
  void Stop();
  // One round now; the number of partitions dropped.
  int RunOnce(absl::Time now);

 private:
  store::HistoryStore& history_;
  const HistoryRetentionOptions options_;
  metrics::Counter& created_;
  metrics::Family<metrics::Counter>& dropped_;
  metrics::Counter& failures_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace warden::control::dispatch
