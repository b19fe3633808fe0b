#include "controlplane/store/policy_store.h"

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/model/effective_policy.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/limit_columns.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

constexpr Statement kStatements[] = {
    // The due sessions with what their limits are computed from.
    {"policy.claim_due",
     "SELECT s.id::text, s.node_id::text, s.protocol, epoch_us(s.opened_at), "
     "epoch_us(s.last_traffic_at), epoch_us(d.expires_at), u.disabled, epoch_us(u.expires_at), "
     "COALESCE(p.name, ''), p.id IS NOT NULL, " WARDEN_LIMIT_COLUMNS("u") ", " WARDEN_LIMIT_COLUMNS(
         "p") " FROM sessions s JOIN users u ON u.id = s.user_id "
              "LEFT JOIN plans p ON p.id = u.plan_id LEFT JOIN devices d ON d.id = s.device_id "
              "WHERE s.state = 'active' AND s.policy_due_at <= from_epoch_us($1) "
              "ORDER BY s.policy_due_at LIMIT $2 FOR UPDATE OF s SKIP LOCKED"},
    {"policy.reschedule",
     "UPDATE sessions s SET policy_due_at = from_epoch_us(v.due) "
     "FROM unnest($1::uuid[], $2::bigint[]) AS v(id, due) "
     "WHERE s.id = v.id AND s.state <> 'closed'"},
    {"policy.announce_expiring",
     "WITH due AS (UPDATE users SET expiry_notified_at = from_epoch_us($1) "
     "  WHERE expires_at > from_epoch_us($1) "
     "  AND expires_at <= from_epoch_us($1) + $2::bigint * interval '1 microsecond' "
     "  AND expiry_notified_at IS NULL RETURNING id, username, expires_at) "
     "INSERT INTO audit_events (actor, action, subject, details) "
     "SELECT 'system', 'user.expiring', 'user:' || id, jsonb_build_object("
     "  'username', username, 'expires_at', expires_at) FROM due RETURNING id"},
    {"policy.earliest_due",
     "SELECT epoch_us(min(policy_due_at)) FROM sessions WHERE state = 'active' "
     "AND policy_due_at IS NOT NULL"},
};

constexpr int kUserLimitsAt = 10;

}  // namespace

std::span<const Statement> PolicyStatements() { return kStatements; }

absl::StatusOr<SweepResult> PolicyStore::SweepDue(absl::Time now, int limit, JudgeDue judge) {
  return db_.Transact(
      {.operation = "sweep session time limits"},
      [&](pqxx::work& tx) -> absl::StatusOr<SweepResult> {
        SweepResult result;
        std::map<std::string, std::vector<std::string>> ending;  // reason → sessions
        std::vector<std::string> ids, dues;
        for (const auto& row :
             tx.exec_prepared("policy.claim_due", absl::ToUnixMicros(now), limit)) {
          ++result.examined;
          const model::LimitSet own = LimitSetFromRow(row, kUserLimitsAt);
          std::optional<model::LimitSet> plan;
          if (row[9].as<bool>()) plan = LimitSetFromRow(row, kUserLimitsAt + kLimitColumns);
          const model::UserLimits limits = model::LimitsOf(
              model::ResolvePolicy(own, plan ? &*plan : nullptr, row[8].as<std::string>()),
              row[6].as<bool>(), OptionalTimeField(row[7]));
          model::LiveSession session;
          session.id = row[0].as<std::string>();
          session.node_id = row[1].as<std::string>();
          session.protocol =
              ProtocolFromName(row[2].as<std::string>()).value_or(model::Protocol::kOpenVpn);
          session.opened_at = TimeField(row[3]);
          session.last_traffic_at = OptionalTimeField(row[4]);
          session.device_expires_at = OptionalTimeField(row[5]);
          const DueVerdict verdict = judge(limits, session);
          if (verdict.end_reason) {
            ending[*verdict.end_reason].push_back(session.id);
            continue;
          }
          ids.push_back(session.id);
          dues.push_back(verdict.next_due ? absl::StrCat(absl::ToUnixMicros(*verdict.next_due))
                                          : "NULL");
        }
        for (const auto& [reason, sessions] : ending) {
          KillSessionsInTransaction(tx, model::Actor{"system"}, sessions,
                                    model::EndBecause(reason));
          result.ended[reason] = static_cast<int>(sessions.size());
        }
        if (!ids.empty()) {
          tx.exec_prepared("policy.reschedule", absl::StrCat("{", absl::StrJoin(ids, ","), "}"),
                           absl::StrCat("{", absl::StrJoin(dues, ","), "}"));
        }
        return result;
      });
}

absl::StatusOr<int> PolicyStore::AnnounceExpiring(absl::Time now, absl::Duration warn_before) {
  return db_.Autocommit({.operation = "announce expiring accounts"},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<int> {
                          return static_cast<int>(
                              tx.exec_prepared("policy.announce_expiring", absl::ToUnixMicros(now),
                                               absl::ToInt64Microseconds(warn_before))
                                  .size());
                        });
}

absl::StatusOr<std::optional<absl::Time>> PolicyStore::EarliestDue() {
  return db_.Autocommit({.operation = "find the next due session", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<absl::Time>> {
                          return OptionalTimeField(tx.exec_prepared1("policy.earliest_due")[0]);
                        });
}

}  // namespace warden::control::store
