#include "controlplane/store/user_store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/family_store.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/database.h"
#include "controlplane/store/statements.h"
#include "controlplane/store/internal/in_transaction.h"

namespace warden::control::store {
namespace {

#define WARDEN_USER_COLUMNS                                                                  \
  "id::text, username, password_hash IS NOT NULL, max_connections, limit_policy, "           \
  "grace_seconds, COALESCE(bandwidth_bytes_per_second, 0), disabled, epoch_us(created_at), " \
  "epoch_us(updated_at)"

constexpr Statement kStatements[] = {
    {"users.insert",
     "INSERT INTO users (username, password_hash, max_connections, limit_policy, grace_seconds, "
     "bandwidth_bytes_per_second, disabled) VALUES ($1, $2, $3, $4, $5, NULLIF($6::bigint, 0), $7) "
     "RETURNING " WARDEN_USER_COLUMNS},
    {"users.by_id", "SELECT " WARDEN_USER_COLUMNS " FROM users WHERE id = $1::uuid"},
    {"users.find",
     "SELECT id::text, username FROM users "
     "WHERE id = NULLIF($1, '')::uuid OR username = NULLIF($2, '')"},
    {"users.by_username", "SELECT " WARDEN_USER_COLUMNS " FROM users WHERE username = $1"},
    {"users.by_username_with_hash",
     "SELECT " WARDEN_USER_COLUMNS ", password_hash FROM users WHERE username = $1"},
    // '~' sorts after every character a username may hold, so [prefix,
    // prefix~) is exactly the usernames that start with prefix (byte order).
    {"users.list",
     "SELECT " WARDEN_USER_COLUMNS " FROM users WHERE username > $1 AND username >= $2 "
     "AND username < $2 || '~' ORDER BY username LIMIT $3"},
    {"users.update",
     "UPDATE users SET username = COALESCE($2, username), "
     "password_hash = CASE WHEN $3::boolean THEN $4 ELSE password_hash END, "
     "max_connections = COALESCE($5, max_connections), "
     "limit_policy = COALESCE($6, limit_policy), "
     "grace_seconds = COALESCE($7, grace_seconds), "
     "bandwidth_bytes_per_second = CASE WHEN $8::bigint IS NULL THEN bandwidth_bytes_per_second "
     "ELSE NULLIF($8::bigint, 0) END, "
     "disabled = COALESCE($9, disabled), updated_at = now() "
     "WHERE id = $1::uuid RETURNING " WARDEN_USER_COLUMNS},
    // A new bandwidth limit goes to every node that carries the user.
    {"users.push_bandwidth",
     "WITH cmds AS (INSERT INTO commands (node_id, kind, payload) "
     "  SELECT DISTINCT node_id, 'set_bandwidth', "
     "    jsonb_build_object('user_id', $1::text, 'bandwidth', $2::bigint) "
     "  FROM sessions WHERE user_id = $1::uuid AND state <> 'closed' RETURNING node_id) "
     "SELECT count(pg_notify('warden_commands', node_id::text)) FROM cmds"},
    // The user's sessions that are not closed (the user's row is locked).
    {"users.live_sessions",
     "SELECT s.id::text, n.name, epoch_us(s.opened_at), s.state = 'closing', "
     "s.kill_failed_at IS NOT NULL FROM sessions s JOIN nodes n ON n.id = s.node_id "
     "WHERE s.user_id = $1::uuid AND s.state <> 'closed'"},
    {"users.lock", "SELECT username FROM users WHERE id = $1::uuid FOR UPDATE"},
    // Admissions take the same row lock, so no session can open between
    // this count and the delete.
    {"users.count_live",
     "SELECT count(*) FROM sessions WHERE user_id = $1::uuid AND state <> 'closed'"},
    {"users.delete", "DELETE FROM users WHERE id = $1::uuid"},
};

#undef WARDEN_USER_COLUMNS

model::LimitPolicy PolicyFromName(const std::string& name) {
  return name == "reject" ? model::LimitPolicy::kReject : model::LimitPolicy::kEvictOldest;
}

model::User UserFromRow(const pqxx::row& row) {
  return model::User{.id = row[0].as<std::string>(),
                     .username = row[1].as<std::string>(),
                     .has_password = row[2].as<bool>(),
                     .max_connections = row[3].as<int>(),
                     .limit_policy = PolicyFromName(row[4].as<std::string>()),
                     .grace_seconds = row[5].as<int>(),
                     .bandwidth_bytes_per_second = row[6].as<int64_t>(),
                     .disabled = row[7].as<bool>(),
                     .created_at = TimeField(row[8]),
                     .updated_at = TimeField(row[9])};
}

nlohmann::json LimitsJson(const model::User& user) {
  return {{"username", user.username},
          {"max_connections", user.max_connections},
          {"limit_policy", PolicyName(user.limit_policy)},
          {"grace_seconds", user.grace_seconds},
          {"bandwidth_bytes_per_second", user.bandwidth_bytes_per_second},
          {"disabled", user.disabled},
          {"has_password", user.has_password}};
}

absl::Status UserNotFound(const std::string& key) {
  return absl::NotFoundError(absl::StrCat("user ", key, " not found"));
}

}  // namespace

std::span<const Statement> UserStatements() { return kStatements; }

absl::string_view PolicyName(model::LimitPolicy policy) {
  return policy == model::LimitPolicy::kReject ? "reject" : "evict_oldest";
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

absl::StatusOr<model::User> UserStore::Create(const model::Actor& actor,
                                              const model::NewUser& user) {
  const std::string conflict = absl::StrCat("username \"", user.username, "\" is already taken");
  return db_.Transact({.operation = "create user", .on_conflict = conflict},
                      [&](pqxx::work& tx) -> absl::StatusOr<model::User> {
                        model::User created = UserFromRow(tx.exec_prepared1(
                            "users.insert", user.username, user.password_hash, user.max_connections,
                            std::string(PolicyName(user.limit_policy)), user.grace_seconds,
                            user.bandwidth_bytes_per_second, user.disabled));
                        AppendAudit(tx, actor, "user.create", absl::StrCat("user:", created.id),
                                    LimitsJson(created));
                        return created;
                      });
}

absl::StatusOr<model::User> UserStore::GetById(const std::string& id) {
  return db_.Autocommit({.operation = "get user"},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::User> {
                          pqxx::result rows = tx.exec_prepared("users.by_id", id);
                          if (rows.empty()) return UserNotFound(id);
                          return UserFromRow(rows[0]);
                        });
}

absl::StatusOr<model::User> UserStore::GetByUsername(const std::string& username) {
  return db_.Autocommit({.operation = "get user"},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::User> {
                          pqxx::result rows = tx.exec_prepared("users.by_username", username);
                          if (rows.empty()) return UserNotFound(absl::StrCat("\"", username, "\""));
                          return UserFromRow(rows[0]);
                        });
}

absl::StatusOr<std::pair<model::User, std::string>> UserStore::GetWithPasswordHash(
    const std::string& username) {
  return db_.Autocommit(
      {.operation = "get user"},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::pair<model::User, std::string>> {
        pqxx::result rows = tx.exec_prepared("users.by_username_with_hash", username);
        if (rows.empty() || rows[0][10].is_null()) {
          return UserNotFound(absl::StrCat("\"", username, "\""));
        }
        return std::make_pair(UserFromRow(rows[0]), rows[0][10].as<std::string>());
      });
}

absl::StatusOr<model::UserPage> UserStore::List(const std::string& prefix,
                                                const std::string& after_username, int limit) {
  return db_.Autocommit({.operation = "list users"},
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
                                              OverLimit over_limit) {
  const std::string conflict =
      absl::StrCat("username \"", changes.username.value_or(""), "\" is already taken");
  std::optional<std::string> policy;
  if (changes.limit_policy) policy = std::string(PolicyName(*changes.limit_policy));
  return db_.Transact(
      {.operation = "update user", .on_conflict = conflict},
      [&](pqxx::work& tx) -> absl::StatusOr<model::User> {
        // Taken before the user's row, in the order device registration takes them.
        if (changes.disabled) LockDevicePool(tx, /*shared=*/false);
        pqxx::result rows = tx.exec_prepared("users.update", id, changes.username,
                                             changes.set_password, changes.password_hash,
                                             changes.max_connections, policy, changes.grace_seconds,
                                             changes.bandwidth_bytes_per_second, changes.disabled);
        if (rows.empty()) return UserNotFound(id);
        model::User updated = UserFromRow(rows[0]);
        nlohmann::json details = LimitsJson(updated);
        nlohmann::json changed = nlohmann::json::array();
        if (changes.username) changed.push_back("username");
        if (changes.set_password) changed.push_back("password");
        if (changes.max_connections) changed.push_back("max_connections");
        if (changes.limit_policy) changed.push_back("limit_policy");
        if (changes.grace_seconds) changed.push_back("grace_seconds");
        if (changes.bandwidth_bytes_per_second) changed.push_back("bandwidth_bytes_per_second");
        if (changes.disabled) changed.push_back("disabled");
        details["changed"] = changed;
        AppendAudit(tx, actor, "user.update", absl::StrCat("user:", updated.id), details);
        // A disabled user's WireGuard devices leave every node, and return
        // when the user is enabled again.
        if (changes.disabled) QueueUserPeerCommands(tx, updated.id, *changes.disabled);
        if (changes.bandwidth_bytes_per_second) {
          tx.exec_prepared("users.push_bandwidth", updated.id, updated.bandwidth_bytes_per_second);
        }
        // Disabled means disconnected: every tunnel, on every protocol and
        // node, is killed in this same transaction.
        if (changes.disabled.value_or(false)) {
          KillUserSessionsInTransaction(tx, actor, updated.id, "user_disabled");
        }
        // A new password ends the logins made with the old one.
        if (changes.set_password && !changes.keep_logins) {
          absl::StatusOr<FamilyRevocation> revoked =
              RevokeUserFamiliesInTransaction(tx, actor, updated.id, "password_changed");
          if (!revoked.ok()) return revoked.status();
        }
        // A limit lowered below what the user holds applies now, not at the
        // next connect (EVICT_OLDEST; REJECT keeps them and refuses new ones).
        if (changes.max_connections || changes.limit_policy) {
          std::vector<model::LiveSession> live;
          for (const auto& row : tx.exec_prepared("users.live_sessions", updated.id)) {
            live.push_back(model::LiveSession{.id = row[0].as<std::string>(),
                                              .node_name = row[1].as<std::string>(),
                                              .opened_at = TimeField(row[2]),
                                              .closing = row[3].as<bool>(),
                                              .kill_failed = row[4].as<bool>()});
          }
          const model::UserLimits limits{.max_connections = updated.max_connections,
                                         .policy = updated.limit_policy,
                                         .grace_seconds = updated.grace_seconds,
                                         .disabled = updated.disabled};
          KillSessionsInTransaction(tx, actor, over_limit(limits, live), "limit_lowered");
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
