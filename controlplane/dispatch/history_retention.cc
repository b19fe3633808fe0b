#include "controlplane/dispatch/history_retention.h"

#include "common/logging.h"

namespace warden::control::dispatch {
namespace {

const logging::Logger Log("control.history");

}  // namespace

HistoryRetention::HistoryRetention(store::HistoryStore& history, HistoryRetentionOptions options,
                                   metrics::Registry& metrics)
    : history_(history),
      options_(std::move(options)),
      created_(metrics
                   .AddCounter("warden_history_partitions_created_total",
                               "Time partitions of the history tables this replica made ahead.")
                   .With({})),
      dropped_(metrics.AddCounter("warden_history_partitions_dropped_total",
                                  "Expired time partitions this replica dropped, by table.",
                                  {"table"})),
      failures_(metrics
                    .AddCounter("warden_history_maintenance_failures_total",
                                "Rounds of history partition upkeep that failed (they are "
                                "retried the next round; alert when it keeps rising).")
                    .With({})) {
  for (const auto& [table, retention] : options_.retention) dropped_.With({table});
}

HistoryRetention::~HistoryRetention() { Stop(); }

void HistoryRetention::Start() {
  for (const auto& [table, retention] : options_.retention) {
    if (retention <= absl::ZeroDuration()) Log()->info("{} rows are kept forever", table);
  }
  RunOnce(absl::Now());
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(options_.interval)) RunOnce(absl::Now());
  });
}

void HistoryRetention::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

int HistoryRetention::RunOnce(absl::Time now) {
  absl::StatusOr<int> created = history_.EnsurePartitions(options_.ahead);
  if (created.ok()) {
    created_.Increment(*created);
    if (*created > 0) Log()->info("made {} history partitions ahead", *created);
  } else {
    failures_.Increment();
    Log()->warn("cannot make history partitions ahead (retrying next round): {}",
                created.status().message());
  }
  int dropped = 0;
  for (const auto& [table, retention] : options_.retention) {
    if (retention <= absl::ZeroDuration() || stop_.HasBeenNotified()) continue;
    absl::StatusOr<std::vector<store::HistoryPartition>> expired =
        history_.ExpiredPartitions(table, now - retention);
    if (!expired.ok()) {
      failures_.Increment();
      continue;
    }
    for (const store::HistoryPartition& partition : *expired) {
      absl::Status status = history_.DropPartition(partition);
      if (absl::IsAborted(status)) return dropped;  // another replica's turn
      if (!status.ok()) {
        failures_.Increment();
        Log()->warn("cannot drop history partition {} (retrying next round): {}", partition.name,
                    status.message());
        break;
      }
      ++dropped;
      dropped_.With({table}).Increment();
      Log()->info("dropped history partition {}: all it held was older than {}", partition.name,
                  absl::FormatTime("%Y-%m-%d", partition.upper_bound, absl::UTCTimeZone()));
    }
  }
  return dropped;
}

}  // namespace warden::control::dispatch
