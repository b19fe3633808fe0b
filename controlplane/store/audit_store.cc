#include "controlplane/store/audit_store.h"

#include "controlplane/store/rows.h"

namespace warden::control::store {
namespace {

constexpr Statement kStatements[] = {
    {"audit.append",
     "INSERT INTO audit_events (actor, action, subject, details) VALUES ($1, $2, $3, $4::jsonb)"},
    // Empty filters match everything; keyset on id, newest first.
    {"audit.list",
     "SELECT id, epoch_us(at), actor, action, subject, details::text FROM audit_events "
     "WHERE ($1 = '' OR actor = $1) "
     "AND ($2 = '' OR action = $2 OR (right($2, 1) = '.' AND starts_with(action, $2))) "
     "AND ($3 = '' OR subject = $3) "
     "AND ($4::bigint IS NULL OR at >= from_epoch_us($4)) "
     "AND ($5::bigint IS NULL OR at < from_epoch_us($5)) "
     "AND ($6::bigint IS NULL OR id < $6) "
     "ORDER BY id DESC LIMIT $7"},
    {"audit.max_id", "SELECT COALESCE(max(id), 0) FROM audit_events"},
    // Oldest first after a cursor; an action ending in '.' is a prefix.
    {"audit.after",
     "SELECT id, epoch_us(at), actor, action, subject, details::text FROM audit_events "
     "WHERE id > $4 AND ($1 = '' OR actor = $1) "
     "AND ($2 = '' OR action = $2 OR (right($2, 1) = '.' AND starts_with(action, $2))) "
     "AND ($3 = '' OR subject = $3) ORDER BY id LIMIT $5"},
};

model::AuditEvent EventFromRow(const pqxx::row& row) {
  return model::AuditEvent{.id = row[0].as<int64_t>(),
                           .at = TimeField(row[1]),
                           .actor = row[2].as<std::string>(),
                           .action = row[3].as<std::string>(),
                           .subject = row[4].as<std::string>(),
                           .details_json = row[5].as<std::string>()};
}

}  // namespace

std::span<const Statement> AuditStatements() { return kStatements; }

void AppendAudit(pqxx::work& tx, const model::Actor& actor, absl::string_view action,
                 absl::string_view subject, const nlohmann::json& details) {
  tx.exec_prepared("audit.append", actor.name, std::string(action), std::string(subject),
                   details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

absl::StatusOr<std::vector<model::AuditEvent>> AuditStore::List(const model::AuditFilter& filter) {
  return db_.Autocommit(
      {.operation = "list audit events"},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::AuditEvent>> {
        std::vector<model::AuditEvent> events;
        for (const auto& row :
             tx.exec_prepared("audit.list", filter.actor, filter.action, filter.subject,
                              OptionalMicros(filter.since), OptionalMicros(filter.until),
                              filter.before_id, filter.limit)) {
          events.push_back(EventFromRow(row));
        }
        return events;
      });
}

}  // namespace warden::control::store

namespace warden::control::store {

absl::StatusOr<int64_t> AuditStore::MaxId() {
  return db_.Autocommit({.operation = "read audit position"},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<int64_t> {
                          return tx.exec_prepared1("audit.max_id")[0].as<int64_t>();
                        });
}

absl::StatusOr<std::vector<model::AuditEvent>> AuditStore::After(const model::AuditFilter& filter,
                                                                 int64_t after_id, int limit) {
  return db_.Autocommit(
      {.operation = "follow audit events"},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::AuditEvent>> {
        std::vector<model::AuditEvent> events;
        for (const auto& row : tx.exec_prepared("audit.after", filter.actor, filter.action,
                                                filter.subject, after_id, limit)) {
          events.push_back(EventFromRow(row));
        }
        return events;
      });
}

}  // namespace warden::control::store
