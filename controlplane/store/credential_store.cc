#include "controlplane/store/credential_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "controlplane/store/database.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

constexpr Statement kStatements[] = {
    {"credentials.key",
     "SELECT revoked_at IS NULL FROM api_keys WHERE key_hash = decode($1, 'hex')"},
    {"credentials.login",
     "SELECT f.revoked_at IS NULL, f.expires_at > now(), u.disabled FROM login_families f "
     "JOIN users u ON u.id = f.user_id WHERE f.id = $1::uuid"},
};

}  // namespace

std::span<const Statement> CredentialStatements() { return kStatements; }

absl::Status CredentialStore::Check(const model::Credential& credential) {
  return db_.Autocommit(
      {.operation = "check a stream's credential", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::Status {
        if (credential.kind == model::Credential::Kind::kApiKey) {
          pqxx::result rows = tx.exec_prepared("credentials.key", credential.key_hash_hex);
          if (rows.empty() || !rows[0][0].as<bool>()) {
            return absl::UnauthenticatedError(
                absl::StrCat("the API key ", credential.key_name, " was revoked"));
          }
          return absl::OkStatus();
        }
        pqxx::result rows = tx.exec_prepared("credentials.login", credential.family_id);
        if (rows.empty() || !rows[0][0].as<bool>()) {
          return absl::UnauthenticatedError("the login was revoked; log in again");
        }
        if (rows[0][2].as<bool>()) {
          return absl::PermissionDeniedError(absl::StrCat(
              "user ", absl::StripPrefix(credential.principal, "user:"), " is disabled"));
        }
        if (!rows[0][1].as<bool>()) {
          return absl::UnauthenticatedError("the login expired; log in again");
        }
        return absl::OkStatus();
      });
}

}  // namespace warden::control::store
