#pragma once

#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controlplane/model/audit.h"

namespace warden::control::store {

class Database;

// How an action filter matches: "" any action, "session." (ending in '.')
// every action with that prefix, anything else that one action. A prefix
// is served as the bytewise range [from, below).
struct ActionMatch {
  enum Shape { kAny, kExact, kPrefix };
  Shape shape = kAny;
  std::string from{};
  std::string below{};
};
ActionMatch MatchAction(const std::string& action);

class AuditStore {
 public:
  explicit AuditStore(Database& db) : db_(db) {}

  // Newest first; filter.limit rows at most.
  absl::StatusOr<std::vector<model::AuditEvent>> List(const model::AuditFilter& filter);
  // The newest event's id (0 when there is none).
  absl::StatusOr<int64_t> MaxId();
  // Events with after_id < id <= through_id, oldest first, `limit` at most;
  // filter.action may be a prefix ending in '.'. filter.since/until/
  // before_id/limit are not used. Fewer than `limit` events means none other
  // in that range matches, so a follower may move past through_id.
  absl::StatusOr<std::vector<model::AuditEvent>> After(const model::AuditFilter& filter,
                                                       int64_t after_id, int64_t through_id,
                                                       int limit);

 private:
  Database& db_;
};

}  // namespace warden::control::store
