#pragma once

// The time partitions of the history tables (audit_events,
// webhook_deliveries, usage_daily; migration 0016): made ahead of time and
// dropped once expired, so that retention never deletes rows under load.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::control::store {

class Database;

struct HistoryPartition {
  std::string table;
  std::string name;
  absl::Time upper_bound;  // everything in it is older than this
};

class HistoryStore {
 public:
  explicit HistoryStore(Database& db) : db_(db) {}

  // Makes the partitions each history table lacks through the span `ahead`
  // spans after the current one; how many it made (none while another
  // replica is changing them).
  absl::StatusOr<int> EnsurePartitions(int ahead);

  // The partitions of `table` holding nothing at or after `cutoff`, oldest
  // first. Never the current span's or a later one, whatever the cutoff.
  absl::StatusOr<std::vector<HistoryPartition>> ExpiredPartitions(const std::string& table,
                                                                  absl::Time cutoff);

  // Detaches (concurrently: writes to the table go on) and drops one
  // partition. A detach left half done by a crash or a timeout is finished;
  // a partition already gone is forgotten. ABORTED when another replica is
  // changing the partitions right now.
  absl::Status DropPartition(const HistoryPartition& partition);

 private:
  Database& db_;
};

}  // namespace warden::control::store
