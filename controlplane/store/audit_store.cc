#include "controlplane/store/audit_store.h"

#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

#define WARDEN_AUDIT_COLUMNS "id, epoch_us(at), actor, action, subject, details::text"
// The action filter of each statement shape. Actions compare byte by byte
// (COLLATE "C"), so that both shapes are ranges of audit_events_action_bytes
// in any plan, generic ones included; the parameters after the shared ones
// are the action (exact) or the prefix and its upper bound (prefix).
#define WARDEN_ACTION_ANY "TRUE"
#define WARDEN_ACTION_EXACT(p) "action COLLATE \"C\" = $" #p
#define WARDEN_ACTION_PREFIX(lo, hi) \
  "action COLLATE \"C\" >= $" #lo " AND action COLLATE \"C\" < $" #hi
// Empty actor and subject filters match everything; keyset on id, newest
// first. $1 actor, $2 subject, $3 since, $4 until, $5 before id, $6 limit.
#define WARDEN_AUDIT_LIST(action)                                   \
  "SELECT " WARDEN_AUDIT_COLUMNS " FROM audit_events WHERE " action \
  " AND ($1 = '' OR actor = $1) AND ($2 = '' OR subject = $2) "     \
  "AND ($3::bigint IS NULL OR at >= from_epoch_us($3)) "            \
  "AND ($4::bigint IS NULL OR at < from_epoch_us($4)) "             \
  "AND ($5::bigint IS NULL OR id < $5) ORDER BY id DESC LIMIT $6"
// Oldest first in (after, through]: $1 actor, $2 subject, $3 after id,
// $4 through id, $5 limit.
#define WARDEN_AUDIT_AFTER(action)                                                           \
  "SELECT " WARDEN_AUDIT_COLUMNS " FROM audit_events WHERE id > $3 AND id <= $4 AND " action \
  " AND ($1 = '' OR actor = $1) AND ($2 = '' OR subject = $2) ORDER BY id LIMIT $5"

constexpr Statement kStatements[] = {
    {"audit.append",
     "INSERT INTO audit_events (actor, action, subject, details) VALUES ($1, $2, $3, $4::jsonb)"},
    {"audit.list.any", WARDEN_AUDIT_LIST(WARDEN_ACTION_ANY)},
    {"audit.list.exact", WARDEN_AUDIT_LIST(WARDEN_ACTION_EXACT(7))},
    {"audit.list.prefix", WARDEN_AUDIT_LIST(WARDEN_ACTION_PREFIX(7, 8))},
    {"audit.max_id", "SELECT COALESCE(max(id), 0) FROM audit_events"},
    {"audit.after.any", WARDEN_AUDIT_AFTER(WARDEN_ACTION_ANY)},
    {"audit.after.exact", WARDEN_AUDIT_AFTER(WARDEN_ACTION_EXACT(6))},
    {"audit.after.prefix", WARDEN_AUDIT_AFTER(WARDEN_ACTION_PREFIX(6, 7))},
};

model::AuditEvent EventFromRow(const pqxx::row& row) {
  return model::AuditEvent{.id = row[0].as<int64_t>(),
                           .at = TimeField(row[1]),
                           .actor = row[2].as<std::string>(),
                           .action = row[3].as<std::string>(),
                           .subject = row[4].as<std::string>(),
                           .details_json = row[5].as<std::string>()};
}

std::vector<model::AuditEvent> EventsFrom(const pqxx::result& rows) {
  std::vector<model::AuditEvent> events;
  events.reserve(rows.size());
  for (const auto& row : rows) events.push_back(EventFromRow(row));
  return events;
}

}  // namespace

ActionMatch MatchAction(const std::string& action) {
  if (action.empty()) return {.shape = ActionMatch::kAny};
  if (action.back() != '.') return {.shape = ActionMatch::kExact, .from = action};
  // Every string that starts with the prefix sorts (bytewise) before the
  // prefix with its last byte raised by one; '.' becomes '/'.
  std::string below = action;
  below.back() = static_cast<char>(below.back() + 1);
  return {.shape = ActionMatch::kPrefix, .from = action, .below = std::move(below)};
}

std::span<const Statement> AuditStatements() { return kStatements; }

Call AuditCall(const model::Actor& actor, absl::string_view action, absl::string_view subject,
               const nlohmann::json& details) {
  return MakeCall("audit.append", actor.name, action, subject,
                  details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void AppendAudit(pqxx::work& tx, const model::Actor& actor, absl::string_view action,
                 absl::string_view subject, const nlohmann::json& details) {
  RunNow(tx, AuditCall(actor, action, subject, details));
}

absl::StatusOr<std::vector<model::AuditEvent>> AuditStore::List(const model::AuditFilter& filter) {
  const ActionMatch match = MatchAction(filter.action);
  return db_.Autocommit(
      {.operation = "list audit events", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::AuditEvent>> {
        const auto since = OptionalMicros(filter.since);
        const auto until = OptionalMicros(filter.until);
        switch (match.shape) {
          case ActionMatch::kAny:
            return EventsFrom(tx.exec_prepared("audit.list.any", filter.actor, filter.subject,
                                               since, until, filter.before_id, filter.limit));
          case ActionMatch::kExact:
            return EventsFrom(tx.exec_prepared("audit.list.exact", filter.actor, filter.subject,
                                               since, until, filter.before_id, filter.limit,
                                               match.from));
          case ActionMatch::kPrefix:
            return EventsFrom(tx.exec_prepared("audit.list.prefix", filter.actor, filter.subject,
                                               since, until, filter.before_id, filter.limit,
                                               match.from, match.below));
        }
        return absl::InternalError("unknown action filter shape");
      });
}

absl::StatusOr<int64_t> AuditStore::MaxId() {
  return db_.Autocommit({.operation = "read audit position", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<int64_t> {
                          return tx.exec_prepared1("audit.max_id")[0].as<int64_t>();
                        });
}

absl::StatusOr<std::vector<model::AuditEvent>> AuditStore::After(const model::AuditFilter& filter,
                                                                 int64_t after_id,
                                                                 int64_t through_id, int limit) {
  const ActionMatch match = MatchAction(filter.action);
  return db_.Autocommit(
      {.operation = "follow audit events", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::AuditEvent>> {
        switch (match.shape) {
          case ActionMatch::kAny:
            return EventsFrom(tx.exec_prepared("audit.after.any", filter.actor, filter.subject,
                                               after_id, through_id, limit));
          case ActionMatch::kExact:
            return EventsFrom(tx.exec_prepared("audit.after.exact", filter.actor, filter.subject,
                                               after_id, through_id, limit, match.from));
          case ActionMatch::kPrefix:
            return EventsFrom(tx.exec_prepared("audit.after.prefix", filter.actor, filter.subject,
                                               after_id, through_id, limit, match.from,
                                               match.below));
        }
        return absl::InternalError("unknown action filter shape");
      });
}

}  // namespace warden::control::store
