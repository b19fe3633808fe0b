#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/model/admission.h"

namespace warden::control::store {

class Database;

// What the domain says of a session whose time came: end it (with the
// reason), or look again at `next_due` (nullopt: no time limit applies).
struct DueVerdict {
  std::optional<std::string> end_reason;
  std::optional<absl::Time> next_due;
};
using JudgeDue = absl::FunctionRef<DueVerdict(const model::UserLimits&, const model::LiveSession&)>;

struct SweepResult {
  int examined = 0;
  std::map<std::string, int> ended;  // by reason, once committed
};

// The rows behind time limits: sessions due to be looked at (max session
// length, idleness, account and device expiry), and accounts about to
// expire. Safe on every replica at once: due sessions are claimed with
// SKIP LOCKED, each by one replica.
class PolicyStore {
 public:
  explicit PolicyStore(Database& db) : db_(db) {}

  // In one transaction: claims up to `limit` active sessions due at `now`
  // (oldest due first), asks `judge` about each, kills those it ends
  // (reason as the close reason, through the command outbox with NOTIFY,
  // audited as the system) and stores the others' next due times.
  absl::StatusOr<SweepResult> SweepDue(absl::Time now, int limit, JudgeDue judge);

  // Records user.expiring (audit) for every account that expires within
  // `warn_before` of `now` and was not announced for that expiry yet.
  absl::StatusOr<int> AnnounceExpiring(absl::Time now, absl::Duration warn_before);

  // The earliest due time of any active session (nullopt: none).
  absl::StatusOr<std::optional<absl::Time>> EarliestDue();

 private:
  Database& db_;
};

}  // namespace warden::control::store
