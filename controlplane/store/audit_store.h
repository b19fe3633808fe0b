#pragma once

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controlplane/model/audit.h"
#include "controlplane/store/database.h"

namespace warden::control::store {

std::span<const Statement> AuditStatements();

// Appends an audit event inside the caller's transaction, so the event and
// the change it describes commit or vanish together. `details` must hold no
// secret.
void AppendAudit(pqxx::work& tx, const model::Actor& actor, absl::string_view action,
                 absl::string_view subject, const nlohmann::json& details);

class AuditStore {
 public:
  explicit AuditStore(Database& db) : db_(db) {}

  // Newest first; filter.limit rows at most.
  absl::StatusOr<std::vector<model::AuditEvent>> List(const model::AuditFilter& filter);
  // The newest event's id (0 when there is none).
  absl::StatusOr<int64_t> MaxId();
  // Events after `after_id`, oldest first; filter.action may be a prefix
  // ending in '.'. filter.since/until/before_id/limit are not used.
  absl::StatusOr<std::vector<model::AuditEvent>> After(const model::AuditFilter& filter,
                                                       int64_t after_id, int limit);

 private:
  Database& db_;
};

}  // namespace warden::control::store
