#include "controlplane/store/plan_store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/limit_columns.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

#define WARDEN_PLAN_COLUMNS                                                             \
  "p.id::text, p.name, p.description, epoch_us(p.created_at), epoch_us(p.updated_at), " \
  "(SELECT count(*) FROM users u WHERE u.plan_id = p.id), " WARDEN_LIMIT_COLUMNS("p")

constexpr Statement kStatements[] = {
    {"plans.insert",
     "WITH p AS (INSERT INTO plans (name, description, max_connections, limit_policy, "
     "  grace_seconds, bandwidth_bytes_per_second, max_connections_per_node, label_caps, "
     "  allowed_protocols, node_selector, max_session_seconds, idle_timeout_seconds, "
     "  data_quota_bytes, quota_period_days, on_quota_exceeded, throttle_bytes_per_second) "
     "  VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, string_to_array($9, ',')::text[], "
     "  $10::jsonb, $11, $12, $13, $14, $15, $16) RETURNING *) "
     "SELECT " WARDEN_PLAN_COLUMNS " FROM p"},
    {"plans.get", "SELECT " WARDEN_PLAN_COLUMNS " FROM plans p "
                  "WHERE p.id = NULLIF($1, '')::uuid OR p.name = NULLIF($2, '')"},
    {"plans.list", "SELECT " WARDEN_PLAN_COLUMNS " FROM plans p ORDER BY p.name"},
    // $4: the limit fields the update names; they take $5..$18 (NULL: unset).
    {"plans.update",
     "UPDATE plans SET name = COALESCE($2, name), description = COALESCE($3, description), "
     "max_connections = CASE WHEN 'max_connections' = ANY($4::text[]) THEN $5 "
     "  ELSE max_connections END, "
     "limit_policy = CASE WHEN 'limit_policy' = ANY($4::text[]) THEN $6 ELSE limit_policy END, "
     "grace_seconds = CASE WHEN 'grace_seconds' = ANY($4::text[]) THEN $7 ELSE grace_seconds END, "
     "bandwidth_bytes_per_second = CASE WHEN 'bandwidth_bytes_per_second' = ANY($4::text[]) "
     "  THEN $8 ELSE bandwidth_bytes_per_second END, "
     "max_connections_per_node = CASE WHEN 'max_connections_per_node' = ANY($4::text[]) "
     "  THEN $9 ELSE max_connections_per_node END, "
     "label_caps = CASE WHEN 'label_caps' = ANY($4::text[]) THEN $10::jsonb ELSE label_caps END, "
     "allowed_protocols = CASE WHEN 'allowed_protocols' = ANY($4::text[]) "
     "  THEN string_to_array($11, ',')::text[] ELSE allowed_protocols END, "
     "node_selector = CASE WHEN 'node_selector' = ANY($4::text[]) THEN $12::jsonb "
     "  ELSE node_selector END, "
     "max_session_seconds = CASE WHEN 'max_session_seconds' = ANY($4::text[]) THEN $13 "
     "  ELSE max_session_seconds END, "
     "idle_timeout_seconds = CASE WHEN 'idle_timeout_seconds' = ANY($4::text[]) THEN $14 "
     "  ELSE idle_timeout_seconds END, "
     "data_quota_bytes = CASE WHEN 'data_quota_bytes' = ANY($4::text[]) THEN $15 "
     "  ELSE data_quota_bytes END, "
     "quota_period_days = CASE WHEN 'quota_period_days' = ANY($4::text[]) THEN $16 "
     "  ELSE quota_period_days END, "
     "on_quota_exceeded = CASE WHEN 'on_quota_exceeded' = ANY($4::text[]) THEN $17 "
     "  ELSE on_quota_exceeded END, "
     "throttle_bytes_per_second = CASE WHEN 'throttle_bytes_per_second' = ANY($4::text[]) "
     "  THEN $18 ELSE throttle_bytes_per_second END, "
     "updated_at = now() WHERE id = $1::uuid RETURNING id"},
    // Users on the plan who hold live sessions, locked in one order (as
    // admissions lock them, one each).
    {"plans.live_users",
     "SELECT u.id::text FROM users u WHERE u.plan_id = $1::uuid AND EXISTS ("
     "  SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.state <> 'closed') "
     "ORDER BY u.id FOR UPDATE OF u"},
    {"plans.users_on", "SELECT count(*) FROM users WHERE plan_id = $1::uuid"},
    {"plans.lock", "SELECT name FROM plans WHERE id = $1::uuid FOR UPDATE"},
    {"plans.delete", "DELETE FROM plans WHERE id = $1::uuid"},
    {"plans.push_bandwidth",
     "WITH cmds AS (INSERT INTO commands (node_id, kind, payload) "
     "  SELECT DISTINCT s.node_id, 'set_bandwidth', jsonb_build_object('user_id', u.id::text, "
     "    'bandwidth', COALESCE(u.bandwidth_bytes_per_second, p.bandwidth_bytes_per_second, 0)) "
     "  FROM sessions s JOIN users u ON u.id = s.user_id JOIN plans p ON p.id = u.plan_id "
     "  WHERE p.id = $1::uuid AND s.state <> 'closed' AND u.bandwidth_bytes_per_second IS NULL "
     "  RETURNING node_id) "
     "SELECT count(pg_notify('warden_commands', node_id::text)) FROM cmds"},
};

#undef WARDEN_PLAN_COLUMNS

model::Plan PlanFromRow(const pqxx::row& row) {
  model::Plan plan;
  plan.id = row[0].as<std::string>();
  plan.name = row[1].as<std::string>();
  plan.description = row[2].as<std::string>();
  plan.created_at = TimeField(row[3]);
  plan.updated_at = TimeField(row[4]);
  plan.users = row[5].as<int64_t>();
  plan.limits = LimitSetFromRow(row, 6);
  return plan;
}

absl::Status PlanNotFound(const std::string& key) {
  return absl::NotFoundError(absl::StrCat("plan ", key, " not found"));
}

}  // namespace

std::span<const Statement> PlanStatements() { return kStatements; }

absl::StatusOr<model::Plan> PlanStore::Create(const model::Actor& actor, const std::string& name,
                                              const std::string& description,
                                              const model::LimitSet& limits) {
  const LimitParams params = ToParams(limits);
  const std::string conflict = absl::StrCat("a plan named \"", name, "\" already exists");
  return db_.Transact(
      {.operation = "create plan", .on_conflict = conflict},
      [&](pqxx::work& tx) -> absl::StatusOr<model::Plan> {
        model::Plan plan = PlanFromRow(tx.exec_prepared1(
            "plans.insert", name, description, params.max_connections, params.limit_policy,
            params.grace_seconds, params.bandwidth_bytes_per_second,
            params.max_connections_per_node, params.label_caps, params.allowed_protocols,
            params.node_selector, params.max_session_seconds, params.idle_timeout_seconds,
            params.data_quota_bytes, params.quota_period_days, params.on_quota_exceeded,
            params.throttle_bytes_per_second));
        AppendAudit(tx, actor, "plan.create", absl::StrCat("plan:", plan.id),
                    {{"name", name}, {"limits", LimitSetJson(plan.limits)}});
        return plan;
      });
}

absl::StatusOr<model::Plan> PlanStore::Get(const std::string& id, const std::string& name) {
  return db_.Autocommit({.operation = "get plan", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::Plan> {
                          pqxx::result rows = tx.exec_prepared("plans.get", id, name);
                          if (rows.empty()) {
                            return PlanNotFound(id.empty() ? absl::StrCat("\"", name, "\"") : id);
                          }
                          return PlanFromRow(rows[0]);
                        });
}

absl::StatusOr<std::vector<model::Plan>> PlanStore::List() {
  return db_.Autocommit({.operation = "list plans", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::Plan>> {
                          std::vector<model::Plan> plans;
                          for (const auto& row : tx.exec_prepared("plans.list")) {
                            plans.push_back(PlanFromRow(row));
                          }
                          return plans;
                        });
}

absl::StatusOr<model::Plan> PlanStore::Update(const model::Actor& actor, const std::string& id,
                                              const PlanChanges& changes, PolicyApplier apply) {
  const LimitParams params = ToParams(changes.limits.values);
  const std::string fields = absl::StrCat("{", absl::StrJoin(changes.limits.fields, ","), "}");
  const std::string conflict =
      absl::StrCat("a plan named \"", changes.name.value_or(""), "\" already exists");
  return db_.Transact(
      {.operation = "update plan", .on_conflict = conflict},
      [&](pqxx::work& tx) -> absl::StatusOr<model::Plan> {
        if (tx.exec_prepared("plans.update", id, changes.name, changes.description, fields,
                             params.max_connections, params.limit_policy, params.grace_seconds,
                             params.bandwidth_bytes_per_second, params.max_connections_per_node,
                             params.label_caps, params.allowed_protocols, params.node_selector,
                             params.max_session_seconds, params.idle_timeout_seconds,
                             params.data_quota_bytes, params.quota_period_days,
                             params.on_quota_exceeded, params.throttle_bytes_per_second)
                .empty()) {
          return PlanNotFound(id);
        }
        model::Plan plan = PlanFromRow(tx.exec_prepared1("plans.get", id, ""));
        nlohmann::json changed = nlohmann::json::array();
        if (changes.name) changed.push_back("name");
        if (changes.description) changed.push_back("description");
        for (const std::string& field : changes.limits.fields) changed.push_back(field);
        AppendAudit(tx, actor, "plan.update", absl::StrCat("plan:", plan.id),
                    {{"name", plan.name},
                     {"limits", LimitSetJson(plan.limits)},
                     {"changed", changed},
                     {"users", plan.users}});
        if (changes.limits.Touches("bandwidth_bytes_per_second")) {
          tx.exec_prepared("plans.push_bandwidth", id);
        }
        // Every user on the plan now holds to it; their own limits still
        // override it where set.
        for (const auto& row : tx.exec_prepared("plans.live_users", id)) {
          WARDEN_RETURN_IF_ERROR(ApplyPolicyToUserInTransaction(tx, actor, row[0].as<std::string>(),
                                                                apply, "policy_changed"));
        }
        return plan;
      });
}

absl::Status PlanStore::Delete(const model::Actor& actor, const std::string& id) {
  return db_.Transact({.operation = "delete plan"}, [&](pqxx::work& tx) -> absl::Status {
    pqxx::result rows = tx.exec_prepared("plans.lock", id);
    if (rows.empty()) return PlanNotFound(id);
    if (const int64_t users = tx.exec_prepared1("plans.users_on", id)[0].as<int64_t>(); users > 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(users, " users are on plan ", rows[0][0].as<std::string>(),
                       "; move them to another plan (UpdateUser plan) before deleting it"));
    }
    tx.exec_prepared("plans.delete", id);
    AppendAudit(tx, actor, "plan.delete", absl::StrCat("plan:", id),
                {{"name", rows[0][0].as<std::string>()}});
    return absl::OkStatus();
  });
}

}  // namespace warden::control::store
