#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/usage.h"
#include "controlplane/store/command_store.h"

namespace warden::control::store {

class Database;

// What the ledger counted in one transaction, and the quota standing of
// the users it counted for that have a quota (or had one announced).
struct LedgerUpdate {
  std::vector<model::TrafficCount> traffic;
  std::vector<model::QuotaStanding> standings;
};

// What settling a user's quota did, once committed.
struct QuotaSettlement {
  model::QuotaStanding standing;  // as judged
  model::QuotaVerdict verdict;
  int sessions_ended = 0;
  int nodes_throttled = 0;  // or given their bandwidth back, on release
  std::vector<QueuedCommand> commands;
};
using QuotaJudge = absl::FunctionRef<model::QuotaVerdict(const model::QuotaStanding&)>;

enum class UsageGranularity { kDay, kMonth };

// The traffic ledger: nodes' samples applied exactly once into per-session
// totals and per-user day and month rows (by node and protocol), and the
// quota state on users.
class UsageStore {
 public:
  explicit UsageStore(Database& db) : db_(db) {}

  // Applies a batch of samples in one transaction (see ApplyUsageInTransaction).
  absl::StatusOr<LedgerUpdate> Apply(std::span<const model::UsageReport> reports);

  // In one transaction holding the user's row: reads the standing, asks
  // `judge`, records the new level, audits quota.threshold for each
  // threshold announced, and on hold ends the user's sessions with reason
  // quota_exceeded (DENY) or throttles their QUIC tunnels to the throttle
  // rate and ends the rest (THROTTLE); on release gives the QUIC tunnels
  // their bandwidth back (quota.released). Nothing is written when the
  // verdict changes nothing.
  absl::StatusOr<QuotaSettlement> SettleQuota(const std::string& user_id, QuotaJudge judge);

  // Support: forget the usage of the current window so far, or add bytes to
  // its quota; audited, then settled like SettleQuota, in one transaction.
  absl::StatusOr<QuotaSettlement> ResetUsage(const model::Actor& actor, const std::string& user_id,
                                             const std::string& reason, QuotaJudge judge);
  absl::StatusOr<QuotaSettlement> GrantExtraQuota(const model::Actor& actor,
                                                  const std::string& user_id, int64_t bytes,
                                                  const std::string& reason, QuotaJudge judge);

  // The user's standing now (quota_bytes 0: no quota); NOT_FOUND without the user.
  absl::StatusOr<model::QuotaStanding> Standing(const std::string& user_id);

  // Users with a threshold announced or held, for the sweep that notices
  // windows moving on (at most `limit`, after `after` in id order).
  absl::StatusOr<std::vector<std::string>> MarkedUsers(const std::string& after, int limit);


  // A user's rows from `from` to `to` (inclusive; months by their first day).
  absl::StatusOr<std::vector<model::UsageRow>> Usage(const std::string& user_id,
                                                     absl::CivilDay from, absl::CivilDay to,
                                                     UsageGranularity granularity);
  // The users who moved the most bytes from `from` to `to`, most first.
  absl::StatusOr<std::vector<model::UserTraffic>> TopUsers(absl::CivilDay from, absl::CivilDay to,
                                                           UsageGranularity granularity,
                                                           int limit);
  // Bytes the fleet moved today (UTC): {rx, tx}.
  absl::StatusOr<std::pair<int64_t, int64_t>> FleetToday();

 private:
  Database& db_;
};

}  // namespace warden::control::store
