#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/policy.h"
#include "controlplane/model/user.h"
#include "controlplane/store/user_store.h"

namespace warden::control::store {

class Database;

struct PlanChanges {
  std::optional<std::string> name;
  std::optional<std::string> description;
  model::LimitChanges limits;
};

// Plans: named limit sets. Every change is audited in its transaction, and
// a change of limits applies at once to the live sessions of every user on
// the plan (each user's row locked in turn, in id order).
class PlanStore {
 public:
  explicit PlanStore(Database& db) : db_(db) {}

  // ALREADY_EXISTS for a name in use.
  absl::StatusOr<model::Plan> Create(const model::Actor& actor, const std::string& name,
                                     const std::string& description, const model::LimitSet& limits);
  // By id or by name (one is empty); NOT_FOUND when unknown.
  absl::StatusOr<model::Plan> Get(const std::string& id, const std::string& name);
  absl::StatusOr<std::vector<model::Plan>> List();
  absl::StatusOr<model::Plan> Update(const model::Actor& actor, const std::string& id,
                                     const PlanChanges& changes, PolicyApplier apply);
  // FAILED_PRECONDITION while users are on the plan.
  absl::Status Delete(const model::Actor& actor, const std::string& id);

 private:
  Database& db_;
};

}  // namespace warden::control::store
