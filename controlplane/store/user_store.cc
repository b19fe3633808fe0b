#include "controlplane/store/user_store.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "controlplane/model/effective_policy.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/family_store.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/limit_columns.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

// A user with their plan: 9 own columns, the user's limits, whether there
// is a plan, the plan's limits (see UserFromRow).
#define WARDEN_USER_COLUMNS                                                                   \
  "u.id::text, u.username, u.password_hash IS NOT NULL, u.disabled, epoch_us(u.created_at), " \
  "epoch_us(u.updated_at), COALESCE(u.plan_id::text, ''), COALESCE(p.name, ''), "             \
  "epoch_us(u.expires_at), " WARDEN_LIMIT_COLUMNS(                                            \
      "u") ", p.id IS NOT NULL, " WARDEN_LIMIT_COLUMNS("p")
#define WARDEN_USERS_WITH_PLANS " FROM users u LEFT JOIN plans p ON p.id = u.plan_id "

constexpr Statement kStatements[] = {
    {"users.insert",
     "WITH u AS (INSERT INTO users (username, password_hash, disabled, plan_id, expires_at, "
     "  max_connections, limit_policy, grace_seconds, bandwidth_bytes_per_second, "
     "  max_connections_per_node, label_caps, allowed_protocols, node_selector, "
     "  max_session_seconds, idle_timeout_seconds, data_quota_bytes, quota_period_days, "
     "  on_quota_exceeded, throttle_bytes_per_second) "
     "  VALUES ($1, $2, $3, NULLIF($4, '')::uuid, from_epoch_us($5), $6, $7, $8, $9, $10, "
     "  $11::jsonb, string_to_array($12, ',')::text[], $13::jsonb, $14, $15, $16, $17, $18, "
     "  $19) RETURNING *) "
     "SELECT " WARDEN_USER_COLUMNS " FROM u LEFT JOIN plans p ON p.id = u.plan_id"},
    {"users.by_id", "SELECT " WARDEN_USER_COLUMNS WARDEN_USERS_WITH_PLANS "WHERE u.id = $1::uuid"},
    {"users.find",
     "SELECT id::text, username FROM users "
     "WHERE id = NULLIF($1, '')::uuid OR username = NULLIF($2, '')"},
    {"users.by_username",
     "SELECT " WARDEN_USER_COLUMNS WARDEN_USERS_WITH_PLANS "WHERE u.username = $1"},
    {"users.by_username_with_hash",
     "SELECT " WARDEN_USER_COLUMNS ", u.password_hash" WARDEN_USERS_WITH_PLANS
     "WHERE u.username = $1"},
    // '~' sorts after every character a username may hold, so [prefix,
    // prefix~) is exactly the usernames that start with prefix (byte order).
    {"users.list", "SELECT " WARDEN_USER_COLUMNS WARDEN_USERS_WITH_PLANS
                   "WHERE u.username > $1 AND u.username >= $2 "
                   "AND u.username < $2 || '~' ORDER BY u.username LIMIT $3"},
    {"users.plan_by_name", "SELECT id::text FROM plans WHERE name = $1"},
    // $10: the limit fields the update names; they take $11..$24 (NULL:
    // inherit). A new expiry is announced again (user.expiring). A user
    // held over an old quota is let go by the usage ledger's sweep.
    {"users.update",
     "UPDATE users SET username = COALESCE($2, username), "
     "password_hash = CASE WHEN $3::boolean THEN $4 ELSE password_hash END, "
     "disabled = COALESCE($5, disabled), "
     "plan_id = CASE WHEN $6::boolean THEN NULLIF($7, '')::uuid ELSE plan_id END, "
     "expires_at = CASE WHEN $8::boolean THEN from_epoch_us($9) ELSE expires_at END, "
     "expiry_notified_at = CASE WHEN $8::boolean THEN NULL ELSE expiry_notified_at END, "
     "max_connections = CASE WHEN 'max_connections' = ANY($10::text[]) THEN $11 "
     "  ELSE max_connections END, "
     "limit_policy = CASE WHEN 'limit_policy' = ANY($10::text[]) THEN $12 ELSE limit_policy END, "
     "grace_seconds = CASE WHEN 'grace_seconds' = ANY($10::text[]) THEN $13 "
     "  ELSE grace_seconds END, "
     "bandwidth_bytes_per_second = CASE WHEN 'bandwidth_bytes_per_second' = ANY($10::text[]) "
     "  THEN $14 ELSE bandwidth_bytes_per_second END, "
     "max_connections_per_node = CASE WHEN 'max_connections_per_node' = ANY($10::text[]) "
     "  THEN $15 ELSE max_connections_per_node END, "
     "label_caps = CASE WHEN 'label_caps' = ANY($10::text[]) THEN $16::jsonb ELSE label_caps END, "
     "allowed_protocols = CASE WHEN 'allowed_protocols' = ANY($10::text[]) "
     "  THEN string_to_array($17, ',')::text[] ELSE allowed_protocols END, "
     "node_selector = CASE WHEN 'node_selector' = ANY($10::text[]) THEN $18::jsonb "
     "  ELSE node_selector END, "
     "max_session_seconds = CASE WHEN 'max_session_seconds' = ANY($10::text[]) THEN $19 "
     "  ELSE max_session_seconds END, "
     "idle_timeout_seconds = CASE WHEN 'idle_timeout_seconds' = ANY($10::text[]) THEN $20 "
     "  ELSE idle_timeout_seconds END, "
     "data_quota_bytes = CASE WHEN 'data_quota_bytes' = ANY($10::text[]) THEN $21 "
     "  ELSE data_quota_bytes END, "
     "quota_period_days = CASE WHEN 'quota_period_days' = ANY($10::text[]) THEN $22 "
     "  ELSE quota_period_days END, "
     "on_quota_exceeded = CASE WHEN 'on_quota_exceeded' = ANY($10::text[]) THEN $23 "
     "  ELSE on_quota_exceeded END, "
     "throttle_bytes_per_second = CASE WHEN 'throttle_bytes_per_second' = ANY($10::text[]) "
     "  THEN $24 ELSE throttle_bytes_per_second END, "
     "updated_at = now() WHERE id = $1::uuid RETURNING id"},
    // A new bandwidth limit goes to every node that carries the user.
    {"users.push_bandwidth",
     "WITH cmds AS (INSERT INTO commands (node_id, kind, payload) "
     "  SELECT DISTINCT node_id, 'set_bandwidth', "
     "    jsonb_build_object('user_id', $1::text, 'bandwidth', $2::bigint) "
     "  FROM sessions WHERE user_id = $1::uuid AND state <> 'closed' RETURNING node_id) "
     "SELECT count(pg_notify('warden_commands', node_id::text)) FROM cmds"},
    // The user's sessions that are not closed, as the policy rules need
    // them (the user's row is locked).
    {"users.live_sessions",
     "SELECT s.id::text, n.name, n.id::text, n.labels::text, s.protocol, epoch_us(s.opened_at), "
     "s.state = 'closing', s.kill_failed_at IS NOT NULL, epoch_us(s.last_traffic_at), "
     "epoch_us(d.expires_at) FROM sessions s JOIN nodes n ON n.id = s.node_id "
     "LEFT JOIN devices d ON d.id = s.device_id "
     "WHERE s.user_id = $1::uuid AND s.state <> 'closed'"},
    {"users.reschedule",
     "UPDATE sessions s SET policy_due_at = from_epoch_us(v.due) "
     "FROM unnest($1::uuid[], $2::bigint[]) AS v(id, due) "
     "WHERE s.id = v.id AND s.state <> 'closed'"},
    {"users.lock", "SELECT username FROM users WHERE id = $1::uuid FOR UPDATE"},
    // Admissions take the same row lock, so no session can open between
    // this count and the delete.
    {"users.count_live",
     "SELECT count(*) FROM sessions WHERE user_id = $1::uuid AND state <> 'closed'"},
    // Usage by day and closed sessions have no foreign key (migrations
    // 0016, 0017): they go here.
    {"users.delete",
     "WITH u AS (DELETE FROM users WHERE id = $1::uuid RETURNING id), "
     "closed AS (DELETE FROM sessions WHERE state = 'closed' "
     "  AND user_id IN (SELECT id FROM u)) "
     "DELETE FROM usage_daily WHERE user_id IN (SELECT id FROM u)"},
};

#undef WARDEN_USERS_WITH_PLANS
#undef WARDEN_USER_COLUMNS

constexpr int kUserLimitsAt = 9;
constexpr int kHasPlanAt = kUserLimitsAt + kLimitColumns;
constexpr int kPlanLimitsAt = kHasPlanAt + 1;

model::User UserFromRow(const pqxx::row& row) {
  model::User user;
  user.id = row[0].as<std::string>();
  user.username = row[1].as<std::string>();
  user.has_password = row[2].as<bool>();
  user.disabled = row[3].as<bool>();
  user.created_at = TimeField(row[4]);
  user.updated_at = TimeField(row[5]);
  user.plan_id = row[6].as<std::string>();
  user.plan_name = row[7].as<std::string>();
  user.expires_at = OptionalTimeField(row[8]);
  user.limits = LimitSetFromRow(row, kUserLimitsAt);
  std::optional<model::LimitSet> plan;
  if (row[kHasPlanAt].as<bool>()) plan = LimitSetFromRow(row, kPlanLimitsAt);
  user.effective = model::ResolvePolicy(user.limits, plan ? &*plan : nullptr, user.plan_name);
  return user;
}

nlohmann::json UserJson(const model::User& user) {
  nlohmann::json json = {{"username", user.username},
                         {"plan", user.plan_name},
                         {"limits", LimitSetJson(user.limits)},
                         {"disabled", user.disabled},
                         {"has_password", user.has_password}};
  if (user.expires_at) json["expires_at_us"] = absl::ToUnixMicros(*user.expires_at);
  return json;
}

absl::Status UserNotFound(const std::string& key) {
  return absl::NotFoundError(absl::StrCat("user ", key, " not found"));
}

// The plan's id for its name ("" for ""), or NOT_FOUND.
absl::StatusOr<std::string> PlanIdByName(pqxx::work& tx, const std::string& name) {
  if (name.empty()) return std::string();
  pqxx::result rows = tx.exec_prepared("users.plan_by_name", name);
  if (rows.empty()) return absl::NotFoundError(absl::StrCat("plan \"", name, "\" not found"));
  return rows[0][0].as<std::string>();
}

}  // namespace

std::span<const Statement> UserStatements() { return kStatements; }

absl::Status ApplyPolicyToUserInTransaction(pqxx::work& tx, const model::Actor& actor,
                                            const std::string& user_id, PolicyApplier apply,
                                            const std::string& cap_reason) {
  pqxx::result users = tx.exec_prepared("users.by_id", user_id);
  if (users.empty()) return UserNotFound(user_id);
  const model::User user = UserFromRow(users[0]);
  std::vector<model::LiveSession> live;
  for (const auto& row : tx.exec_prepared("users.live_sessions", user_id)) {
    live.push_back(model::LiveSession{
        .id = row[0].as<std::string>(),
        .node_name = row[1].as<std::string>(),
        .node_id = row[2].as<std::string>(),
        .node_labels = NodeLabelsFromJson(row[3].c_str()),
        .protocol = ProtocolFromName(row[4].as<std::string>()).value_or(model::Protocol::kOpenVpn),
        .opened_at = TimeField(row[5]),
        .closing = row[6].as<bool>(),
        .kill_failed = row[7].as<bool>(),
        .last_traffic_at = OptionalTimeField(row[8]),
        .device_expires_at = OptionalTimeField(row[9])});
  }
  if (live.empty()) return absl::OkStatus();
  const model::LiveSessionsChange change =
      apply(model::LimitsOf(user.effective, user.disabled, user.expires_at), live, cap_reason);
  std::map<std::string, std::vector<std::string>> ending;  // reason → sessions
  for (const auto& [id, reason] : change.end) ending[reason].push_back(id);
  for (const auto& [reason, ids] : ending)
    KillSessionsInTransaction(tx, actor, ids, model::EndBecause(reason));
  if (!change.due.empty()) {
    std::vector<std::string> ids, dues;
    for (const auto& [id, due] : change.due) {
      ids.push_back(id);
      dues.push_back(due ? absl::StrCat(absl::ToUnixMicros(*due)) : "NULL");
    }
    tx.exec_prepared("users.reschedule", absl::StrCat("{", absl::StrJoin(ids, ","), "}"),
                     absl::StrCat("{", absl::StrJoin(dues, ","), "}"));
  }
  return absl::OkStatus();
}

absl::StatusOr<UserName> FindUser(pqxx::transaction_base& tx, const std::string& id,
                                  const std::string& username) {
  pqxx::result user = tx.exec_prepared("users.find", id, username);
  if (user.empty()) {
    return absl::NotFoundError(
        absl::StrCat("user ", id.empty() ? absl::StrCat("\"", username, "\"") : id, " not found"));
  }
  return UserName{.id = user[0][0].as<std::string>(), .username = user[0][1].as<std::string>()};
}

absl::StatusOr<model::User> CreateUserInTransaction(pqxx::work& tx, const model::Actor& actor,
                                                    const model::NewUser& user,
                                                    const nlohmann::json& audit_extra) {
  absl::StatusOr<std::string> plan_id = PlanIdByName(tx, user.plan_name);
  if (!plan_id.ok()) return plan_id.status();
  const LimitParams limits = ToParams(user.limits);
  model::User created = UserFromRow(tx.exec_prepared1(
      "users.insert", user.username, user.password_hash, user.disabled, *plan_id,
      OptionalMicros(user.expires_at), limits.max_connections, limits.limit_policy,
      limits.grace_seconds, limits.bandwidth_bytes_per_second, limits.max_connections_per_node,
      limits.label_caps, limits.allowed_protocols, limits.node_selector, limits.max_session_seconds,
      limits.idle_timeout_seconds, limits.data_quota_bytes, limits.quota_period_days,
      limits.on_quota_exceeded, limits.throttle_bytes_per_second));
  nlohmann::json details = UserJson(created);
  if (audit_extra.is_object()) details.update(audit_extra);
  AppendAudit(tx, actor, "user.create", absl::StrCat("user:", created.id), details);
  return created;
}

absl::StatusOr<model::User> UserByIdInTransaction(pqxx::transaction_base& tx,
                                                  const std::string& id) {
  pqxx::result rows = tx.exec_prepared("users.by_id", id);
  if (rows.empty()) return UserNotFound(id);
  return UserFromRow(rows[0]);
}

absl::StatusOr<model::User> UserStore::Create(const model::Actor& actor,
                                              const model::NewUser& user) {
  const std::string conflict = absl::StrCat("username \"", user.username, "\" is already taken");
  return db_.Transact({.operation = "create user", .on_conflict = conflict},
                      [&](pqxx::work& tx) -> absl::StatusOr<model::User> {
                        return CreateUserInTransaction(tx, actor, user, nlohmann::json());
                      });
}

absl::StatusOr<model::User> UserStore::GetById(const std::string& id) {
  return db_.Autocommit({.operation = "get user", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::User> {
                          pqxx::result rows = tx.exec_prepared("users.by_id", id);
                          if (rows.empty()) return UserNotFound(id);
                          return UserFromRow(rows[0]);
                        });
}

absl::StatusOr<model::User> UserStore::GetByUsername(const std::string& username) {
  return db_.Autocommit({.operation = "get user", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::User> {
                          pqxx::result rows = tx.exec_prepared("users.by_username", username);
                          if (rows.empty()) return UserNotFound(absl::StrCat("\"", username, "\""));
                          return UserFromRow(rows[0]);
                        });
}

absl::StatusOr<std::pair<model::User, std::string>> UserStore::GetWithPasswordHash(
    const std::string& username) {
  return db_.Autocommit(
      {.operation = "get user", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::pair<model::User, std::string>> {
        pqxx::result rows = tx.exec_prepared("users.by_username_with_hash", username);
        constexpr int kHashAt = kPlanLimitsAt + kLimitColumns;
        if (rows.empty() || rows[0][kHashAt].is_null()) {
          return UserNotFound(absl::StrCat("\"", username, "\""));
        }
        return std::make_pair(UserFromRow(rows[0]), rows[0][kHashAt].as<std::string>());
      });
}

absl::StatusOr<model::UserPage> UserStore::List(const std::string& prefix,
                                                const std::string& after_username, int limit) {
  return db_.Autocommit({.operation = "list users", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::UserPage> {
                          model::UserPage page;
                          // One extra row tells whether another page exists.
                          pqxx::result rows =
                              tx.exec_prepared("users.list", after_username, prefix, limit + 1);
                          for (const auto& row : rows) {
                            if (static_cast<int>(page.users.size()) == limit) {
                              page.last_username = page.users.back().username;
                              break;
                            }
                            page.users.push_back(UserFromRow(row));
                          }
                          return page;
                        });
}

absl::StatusOr<model::User> UserStore::Update(const model::Actor& actor, const std::string& id,
                                              const model::UserChanges& changes,
                                              PolicyApplier apply) {
  const std::string conflict =
      absl::StrCat("username \"", changes.username.value_or(""), "\" is already taken");
  const LimitParams limits = ToParams(changes.limits.values);
  const std::string fields = absl::StrCat("{", absl::StrJoin(changes.limits.fields, ","), "}");
  return db_.Transact(
      {.operation = "update user", .on_conflict = conflict},
      [&](pqxx::work& tx) -> absl::StatusOr<model::User> {
        // Taken before the user's row, in the order device registration takes them.
        if (changes.disabled) LockDevicePool(tx, /*shared=*/false);
        std::string plan_id;
        if (changes.plan_name && *changes.plan_name) {
          absl::StatusOr<std::string> found = PlanIdByName(tx, **changes.plan_name);
          if (!found.ok()) return found.status();
          plan_id = *found;
        }
        std::optional<int64_t> expires_us;
        if (changes.expires_at && *changes.expires_at) {
          expires_us = absl::ToUnixMicros(**changes.expires_at);
        }
        if (tx.exec_prepared("users.update", id, changes.username, changes.set_password,
                             changes.password_hash, changes.disabled, changes.plan_name.has_value(),
                             plan_id, changes.expires_at.has_value(), expires_us, fields,
                             limits.max_connections, limits.limit_policy, limits.grace_seconds,
                             limits.bandwidth_bytes_per_second, limits.max_connections_per_node,
                             limits.label_caps, limits.allowed_protocols, limits.node_selector,
                             limits.max_session_seconds, limits.idle_timeout_seconds,
                             limits.data_quota_bytes, limits.quota_period_days,
                             limits.on_quota_exceeded, limits.throttle_bytes_per_second)
                .empty()) {
          return UserNotFound(id);
        }
        model::User updated = UserFromRow(tx.exec_prepared1("users.by_id", id));
        nlohmann::json details = UserJson(updated);
        nlohmann::json changed = nlohmann::json::array();
        if (changes.username) changed.push_back("username");
        if (changes.set_password) changed.push_back("password");
        for (const std::string& field : changes.limits.fields) changed.push_back(field);
        if (changes.plan_name) changed.push_back("plan");
        if (changes.expires_at) changed.push_back("expires_at");
        if (changes.disabled) changed.push_back("disabled");
        details["changed"] = changed;
        AppendAudit(tx, actor, "user.update", absl::StrCat("user:", updated.id), details);
        // A disabled user's WireGuard devices leave every node, and return
        // when the user is enabled again.
        if (changes.disabled) QueueUserPeerCommands(tx, updated.id, *changes.disabled);
        if (changes.limits.Touches("bandwidth_bytes_per_second") || changes.plan_name) {
          tx.exec_prepared("users.push_bandwidth", updated.id,
                           updated.effective.bandwidth_bytes_per_second.value);
        }
        // Disabled means disconnected: every tunnel, on every protocol and
        // node, is killed in this same transaction.
        if (changes.disabled.value_or(false)) {
          KillUserSessionsInTransaction(tx, actor, updated.id,
                                        model::EndBecause(model::end_reason::kUserDisabled));
        }
        // A new password ends the logins made with the old one.
        if (changes.set_password && !changes.keep_logins) {
          absl::StatusOr<FamilyRevocation> revoked =
              RevokeUserFamiliesInTransaction(tx, actor, updated.id, "password_changed");
          if (!revoked.ok()) return revoked.status();
        }
        // What the new policy means for live sessions applies now, not at
        // the next connect: a lowered device limit evicts as
        // `limit_lowered`; anything else (a plan, a scoped cap, a
        // restriction, an expiry) ends sessions as `policy_changed`.
        if (changes.TouchesPolicy()) {
          const bool only_device_limit =
              !changes.plan_name && !changes.expires_at &&
              std::all_of(changes.limits.fields.begin(), changes.limits.fields.end(),
                          [](const std::string& field) {
                            return field == "max_connections" || field == "limit_policy" ||
                                   field == "grace_seconds" ||
                                   field == "bandwidth_bytes_per_second";
                          });
          WARDEN_RETURN_IF_ERROR(ApplyPolicyToUserInTransaction(
              tx, actor, updated.id, apply,
              only_device_limit ? "limit_lowered" : "policy_changed"));
        }
        return updated;
      });
}

absl::Status UserStore::Delete(const model::Actor& actor, const std::string& id) {
  return db_.Transact({.operation = "delete user"}, [&](pqxx::work& tx) -> absl::Status {
    pqxx::result rows = tx.exec_prepared("users.lock", id);
    if (rows.empty()) return UserNotFound(id);
    if (const int64_t live = tx.exec_prepared1("users.count_live", id)[0].as<int64_t>(); live > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "user has ", live, " live sessions; disconnect them before deleting the user"));
    }
    tx.exec_prepared("users.delete", id);
    AppendAudit(tx, actor, "user.delete", absl::StrCat("user:", id),
                {{"username", rows[0][0].as<std::string>()}});
    return absl::OkStatus();
  });
}

}  // namespace warden::control::store
