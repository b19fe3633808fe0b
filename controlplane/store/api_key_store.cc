#include "controlplane/store/api_key_store.h"

#include "absl/strings/str_cat.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

#define WARDEN_KEY_COLUMNS \
  "id::text, name, role, epoch_us(created_at), epoch_us(revoked_at), encode(key_hash, 'hex')"

constexpr Statement kStatements[] = {
    {"keys.insert",
     "INSERT INTO api_keys (name, role, key_hash) VALUES ($1, $2, decode($3, 'hex')) "
     "RETURNING " WARDEN_KEY_COLUMNS},
    {"keys.by_hash",
     "SELECT " WARDEN_KEY_COLUMNS " FROM api_keys WHERE key_hash = decode($1, 'hex')"},
    {"keys.list", "SELECT " WARDEN_KEY_COLUMNS " FROM api_keys WHERE $1 OR revoked_at IS NULL "
                  "ORDER BY created_at, name"},
    // Locks every unrevoked admin key so that two revocations cannot both
    // believe another admin key remains.
    {"keys.lock_admins",
     "SELECT id::text FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL FOR UPDATE"},
    {"keys.revoke",
     "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1::uuid "
     "RETURNING " WARDEN_KEY_COLUMNS},
    {"keys.name_taken", "SELECT 1 FROM api_keys WHERE name = $1"},
};

#undef WARDEN_KEY_COLUMNS

// pg_advisory_xact_lock key that serialises bootstrap among replicas.
constexpr int64_t kBootstrapLockKey = 0x7761726465'6e626b;

model::Role RoleFromName(const std::string& name) {
  return name == "admin" ? model::Role::kAdmin : model::Role::kViewer;
}

std::string RoleName(model::Role role) { return role == model::Role::kAdmin ? "admin" : "viewer"; }

StoredApiKey KeyFromRow(const pqxx::row& row) {
  return StoredApiKey{.key = model::ApiKey{.id = row[0].as<std::string>(),
                                           .name = row[1].as<std::string>(),
                                           .role = RoleFromName(row[2].as<std::string>()),
                                           .created_at = TimeField(row[3]),
                                           .revoked_at = OptionalTimeField(row[4])},
                      .key_hash_hex = row[5].as<std::string>()};
}

}  // namespace

std::span<const Statement> ApiKeyStatements() { return kStatements; }

absl::StatusOr<model::ApiKey> ApiKeyStore::Create(const model::Actor& actor,
                                                  const std::string& name, model::Role role,
                                                  const std::string& key_hash_hex) {
  const std::string conflict = absl::StrCat("an API key named \"", name, "\" already exists");
  return db_.Transact(
      {.operation = "create API key", .on_conflict = conflict},
      [&](pqxx::work& tx) -> absl::StatusOr<model::ApiKey> {
        StoredApiKey created =
            KeyFromRow(tx.exec_prepared1("keys.insert", name, RoleName(role), key_hash_hex));
        AppendAudit(tx, actor, "api_key.create", absl::StrCat("api_key:", created.key.id),
                    {{"name", name}, {"role", RoleName(role)}});
        return created.key;
      });
}

absl::StatusOr<std::optional<StoredApiKey>> ApiKeyStore::FindActive(
    const std::string& key_hash_hex) {
  return db_.Autocommit(
      {.operation = "check API key", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<StoredApiKey>> {
        pqxx::result rows = tx.exec_prepared("keys.by_hash", key_hash_hex);
        if (rows.empty()) return std::nullopt;
        StoredApiKey key = KeyFromRow(rows[0]);
        if (key.key.revoked_at) return std::nullopt;
        return key;
      });
}

absl::StatusOr<std::vector<model::ApiKey>> ApiKeyStore::List(bool include_revoked) {
  return db_.Autocommit(
      {.operation = "list API keys", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::ApiKey>> {
        std::vector<model::ApiKey> keys;
        for (const auto& row : tx.exec_prepared("keys.list", include_revoked)) {
          keys.push_back(KeyFromRow(row).key);
        }
        return keys;
      });
}

absl::StatusOr<model::ApiKey> ApiKeyStore::Revoke(const model::Actor& actor,
                                                  const std::string& id) {
  return db_.Transact(
      {.operation = "revoke API key"}, [&](pqxx::work& tx) -> absl::StatusOr<model::ApiKey> {
        pqxx::result admins = tx.exec_prepared("keys.lock_admins");
        const bool is_last_admin = admins.size() == 1 && admins[0][0].as<std::string>() == id;
        if (is_last_admin) {
          return absl::FailedPreconditionError(
              "this is the last valid admin key; create another admin key before revoking it");
        }
        pqxx::result rows = tx.exec_prepared("keys.revoke", id);
        if (rows.empty()) return absl::NotFoundError(absl::StrCat("API key ", id, " not found"));
        StoredApiKey revoked = KeyFromRow(rows[0]);
        AppendAudit(tx, actor, "api_key.revoke", absl::StrCat("api_key:", id),
                    {{"name", revoked.key.name}});
        return revoked.key;
      });
}

absl::StatusOr<BootstrapOutcome> ApiKeyStore::InstallBootstrapKey(const std::string& key_hash_hex,
                                                                  bool only_if_no_admin) {
  return db_.Transact(
      {.operation = "install bootstrap admin key"},
      [&](pqxx::work& tx) -> absl::StatusOr<BootstrapOutcome> {
        tx.exec(absl::StrCat("SELECT pg_advisory_xact_lock(", kBootstrapLockKey, ")"));
        pqxx::result existing = tx.exec_prepared("keys.by_hash", key_hash_hex);
        if (!existing.empty()) {
          return KeyFromRow(existing[0]).key.revoked_at ? BootstrapOutcome::kRevoked
                                                        : BootstrapOutcome::kAlreadyActive;
        }
        if (only_if_no_admin && !tx.exec_prepared("keys.lock_admins").empty()) {
          return BootstrapOutcome::kNotNeeded;
        }
        std::string name = "bootstrap";
        if (!tx.exec_prepared("keys.name_taken", name).empty()) {
          name = absl::StrCat("bootstrap-", key_hash_hex.substr(0, 8));
        }
        StoredApiKey created = KeyFromRow(
            tx.exec_prepared1("keys.insert", name, RoleName(model::Role::kAdmin), key_hash_hex));
        AppendAudit(tx, model::Actor{"system"}, "api_key.bootstrap",
                    absl::StrCat("api_key:", created.key.id), {{"name", name}});
        return BootstrapOutcome::kInstalled;
      });
}

}  // namespace warden::control::store
