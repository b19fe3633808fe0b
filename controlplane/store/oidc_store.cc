#include "controlplane/store/oidc_store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

#define WARDEN_US(n) "$" #n "::bigint * interval '1 microsecond'"
#define WARDEN_OIDC_LOGIN_COLUMNS                                                           \
  "id::text, provider, encode(sealed, 'hex'), redirect_uri, device_label, client_address, " \
  "coalesce(encode(state_hash, 'hex'), ''), coalesce(nonce_hash, ''), "                     \
  "encode(callback_code, 'hex'), "                                                          \
  "coalesce(callback_error, ''), poll_interval_ms, coalesce(callback_confirmation_hash, '')"

constexpr Statement kStatements[] = {
    // $1 kind, $2 provider, $3 handle hash, $4 state hash, $5 nonce hash,
    // $6 sealed, $7 redirect, $8 label, $9 address, $10 interval ms, $11 ttl µs
    {"oidc.create",
     "INSERT INTO oidc_logins (kind, provider, handle_hash, state_hash, nonce_hash, sealed, "
     "  redirect_uri, device_label, client_address, poll_interval_ms, next_poll_at, expires_at) "
     "VALUES ($1, $2, decode($3, 'hex'), decode(NULLIF($4, ''), 'hex'), NULLIF($5, ''), "
     "  decode($6, 'hex'), $7, $8, $9, $10, "
     // RFC 8628 3.5: the first poll waits the interval too.
     "  CASE WHEN $1::text = 'device' THEN now() + $10::integer * interval '1 millisecond' END, "
     "  now() + " WARDEN_US(11) ") RETURNING epoch_us(expires_at)"},
    // $1 handle hash, $2 Warden's callback page ('' = none): a login sent
    // there is taken only once the page has recorded the provider's answer.
    {"oidc.take_code",
     "UPDATE oidc_logins SET used_at = now() "
     "WHERE handle_hash = decode($1, 'hex') AND kind = 'code' AND used_at IS NULL "
     "  AND expires_at > now() "
     "  AND (redirect_uri <> $2 OR callback_code IS NOT NULL OR callback_error IS NOT NULL) "
     "RETURNING " WARDEN_OIDC_LOGIN_COLUMNS},
    {"oidc.pending_code",
     "SELECT 1 FROM oidc_logins WHERE handle_hash = decode($1, 'hex') AND kind = 'code' "
     "  AND used_at IS NULL AND expires_at > now()"},
    // $1 state hash, $2 sealed code (hex, or ''), $3 error (or ''), $4 the
    // confirmation code's hash
    {"oidc.callback",
     "UPDATE oidc_logins SET callback_code = decode(NULLIF($2, ''), 'hex'), "
     "  callback_error = NULLIF($3, ''), callback_confirmation_hash = $4 "
     "WHERE state_hash = decode($1, 'hex') AND kind = 'code' AND used_at IS NULL "
     "  AND expires_at > now() AND callback_code IS NULL AND callback_error IS NULL"},
    // One statement: the slot is taken only when it is due, so two replicas
    // never both ask the provider within one interval.
    {"oidc.claim_poll",
     "UPDATE oidc_logins SET next_poll_at = now() + poll_interval_ms * interval '1 millisecond' "
     "WHERE handle_hash = decode($1, 'hex') AND kind = 'device' AND used_at IS NULL "
     "  AND expires_at > now() AND (next_poll_at IS NULL OR next_poll_at <= now()) "
     "RETURNING " WARDEN_OIDC_LOGIN_COLUMNS},
    {"oidc.poll_state",
     "SELECT used_at IS NOT NULL OR expires_at <= now(), "
     "  greatest(0, epoch_us(coalesce(next_poll_at, now())) - epoch_us(now())), poll_interval_ms "
     "FROM oidc_logins WHERE handle_hash = decode($1, 'hex') AND kind = 'device'"},
    {"oidc.slow_down",
     "UPDATE oidc_logins SET poll_interval_ms = $2, "
     "  next_poll_at = now() + $2::integer * interval '1 millisecond' WHERE id = $1::uuid"},
    {"oidc.end_device",
     "UPDATE oidc_logins SET used_at = now() WHERE id = $1::uuid AND used_at IS NULL"},
    {"oidc.identity",
     "UPDATE user_identities SET last_login_at = now() WHERE issuer = $1 AND subject = $2 "
     "RETURNING user_id::text"},
    // An existing user of that name with no identity at this issuer yet.
    {"oidc.linkable_user",
     "SELECT u.id::text FROM users u WHERE u.username = $1 AND NOT EXISTS ("
     "  SELECT 1 FROM user_identities i WHERE i.user_id = u.id AND i.issuer = $2) "
     "FOR UPDATE OF u"},
    {"oidc.username_taken", "SELECT 1 FROM users WHERE username = $1"},
    {"oidc.link",
     "INSERT INTO user_identities (issuer, subject, user_id, provider, last_login_at) "
     "VALUES ($1, $2, $3::uuid, $4, now())"},
    {"oidc.sweep", "DELETE FROM oidc_logins WHERE expires_at < now() - interval '1 hour'"},
};

#undef WARDEN_OIDC_LOGIN_COLUMNS
#undef WARDEN_US

OidcLogin LoginFromRow(const pqxx::row& row) {
  OidcLogin login;
  login.id = row[0].as<std::string>();
  login.provider = row[1].as<std::string>();
  login.sealed = absl::HexStringToBytes(row[2].as<std::string>());
  login.redirect_uri = row[3].as<std::string>();
  login.device_label = row[4].as<std::string>();
  login.client_address = row[5].as<std::string>();
  login.state_hash_hex = row[6].as<std::string>();
  login.nonce_hash_hex = row[7].as<std::string>();
  if (!row[8].is_null()) login.callback_code = absl::HexStringToBytes(row[8].as<std::string>());
  login.callback_error = row[9].as<std::string>();
  login.poll_interval = absl::Milliseconds(row[10].as<int64_t>());
  login.callback_confirmation_hash = row[11].as<std::string>();
  return login;
}

absl::Status UnknownLogin() {
  return absl::UnauthenticatedError("unknown, used or expired single sign-on login; start again");
}

nlohmann::json IdentityJson(const IdentitySignIn& sign_in) {
  return {{"provider", sign_in.provider}, {"issuer", sign_in.issuer}, {"subject", sign_in.subject}};
}

}  // namespace

std::span<const Statement> OidcStatements() { return kStatements; }

absl::StatusOr<absl::Time> OidcStore::CreateLogin(const NewOidcLogin& login) {
  return db_.Autocommit({.operation = "begin single sign-on login"},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<absl::Time> {
                          pqxx::row row = tx.exec_prepared1(
                              "oidc.create", login.flow == OidcFlow::kCode ? "code" : "device",
                              login.provider, login.handle_hash_hex, login.state_hash_hex,
                              login.nonce_hash_hex, absl::BytesToHexString(login.sealed),
                              login.redirect_uri, login.device_label, login.client_address,
                              absl::ToInt64Milliseconds(login.poll_interval),
                              absl::ToInt64Microseconds(login.ttl));
                          return TimeField(row[0]);
                        });
}

absl::StatusOr<OidcLogin> OidcStore::TakeCodeLogin(const std::string& handle_hash_hex,
                                                   const std::string& callback_url) {
  return db_.Autocommit(
      {.operation = "complete single sign-on login"},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<OidcLogin> {
        pqxx::result taken = tx.exec_prepared("oidc.take_code", handle_hash_hex, callback_url);
        if (!taken.empty()) return LoginFromRow(taken[0]);
        // Still pending: only a login waiting for Warden's page stays so.
        if (!tx.exec_prepared("oidc.pending_code", handle_hash_hex).empty()) {
          return absl::FailedPreconditionError(
              "the identity provider has not sent the browser back to Warden's callback yet; "
              "retry once the user has signed in");
        }
        return UnknownLogin();
      });
}

absl::Status OidcStore::RecordCallback(const std::string& state_hash_hex,
                                       const std::string& sealed_code, const std::string& error,
                                       const std::string& confirmation_hash_hex) {
  return db_.Autocommit(
      {.operation = "record single sign-on callback"},
      [&](pqxx::nontransaction& tx) -> absl::Status {
        if (tx.exec_prepared("oidc.callback", state_hash_hex, absl::BytesToHexString(sealed_code),
                             error, confirmation_hash_hex)
                .affected_rows() == 0) {
          return absl::NotFoundError("no single sign-on login is waiting for this state");
        }
        return absl::OkStatus();
      });
}

absl::StatusOr<DevicePollSlot> OidcStore::ClaimDevicePoll(const std::string& handle_hash_hex) {
  return db_.Autocommit({.operation = "poll device login"},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<DevicePollSlot> {
                          DevicePollSlot slot;
                          pqxx::result claimed =
                              tx.exec_prepared("oidc.claim_poll", handle_hash_hex);
                          if (!claimed.empty()) {
                            slot.login = LoginFromRow(claimed[0]);
                            return slot;
                          }
                          pqxx::result found = tx.exec_prepared("oidc.poll_state", handle_hash_hex);
                          if (found.empty()) return UnknownLogin();
                          slot.ended = found[0][0].as<bool>();
                          slot.wait = absl::Microseconds(found[0][1].as<int64_t>());
                          slot.interval = absl::Milliseconds(found[0][2].as<int64_t>());
                          return slot;
                        });
}

absl::Status OidcStore::SlowDown(const std::string& login_id, absl::Duration interval) {
  return db_.Autocommit(
      {.operation = "slow down device login"}, [&](pqxx::nontransaction& tx) -> absl::Status {
        tx.exec_prepared("oidc.slow_down", login_id, absl::ToInt64Milliseconds(interval));
        return absl::OkStatus();
      });
}

absl::Status OidcStore::EndDeviceLogin(const std::string& login_id) {
  return db_.Autocommit({.operation = "end device login"},
                        [&](pqxx::nontransaction& tx) -> absl::Status {
                          if (tx.exec_prepared("oidc.end_device", login_id).affected_rows() == 0) {
                            return UnknownLogin();
                          }
                          return absl::OkStatus();
                        });
}

absl::StatusOr<SignedInUser> OidcStore::SignIn(const model::Actor& actor,
                                               const IdentitySignIn& sign_in) {
  const std::string conflict = absl::StrCat(
      "another first sign-in of this identity, or another identity for the same user, was "
      "saved at the same moment; log in again");
  return db_.Transact(
      {.operation = "sign in", .on_conflict = conflict},
      [&](pqxx::work& tx) -> absl::StatusOr<SignedInUser> {
        SignedInUser result;
        pqxx::result linked = tx.exec_prepared("oidc.identity", sign_in.issuer, sign_in.subject);
        if (!linked.empty()) {
          absl::StatusOr<model::User> user =
              UserByIdInTransaction(tx, linked[0][0].as<std::string>());
          if (!user.ok()) return user.status();
          result.user = *std::move(user);
          return result;
        }
        std::string user_id;
        if (sign_in.link_by_username) {
          pqxx::result same =
              tx.exec_prepared("oidc.linkable_user", sign_in.username, sign_in.issuer);
          if (!same.empty()) {
            user_id = same[0][0].as<std::string>();
            result.linked = true;
          }
        }
        if (user_id.empty()) {
          if (!tx.exec_prepared("oidc.username_taken", sign_in.username).empty()) {
            return absl::FailedPreconditionError(absl::StrCat(
                "the Warden user \"", sign_in.username, "\" is not linked to this ",
                sign_in.provider,
                " identity; an administrator can allow linking by username (link_by_username) "
                "or rename one of them"));
          }
          if (!sign_in.create_users) {
            return absl::FailedPreconditionError(absl::StrCat(
                "no Warden user is linked to this ", sign_in.provider,
                " identity and the provider does not create users; ask an administrator"));
          }
          model::NewUser fresh;
          fresh.username = sign_in.username;
          fresh.plan_name = sign_in.plan;
          absl::StatusOr<model::User> created =
              CreateUserInTransaction(tx, actor, fresh, {{"via", IdentityJson(sign_in)}});
          if (absl::IsNotFound(created.status())) {
            return absl::FailedPreconditionError(
                absl::StrCat("the ", sign_in.provider, " group mapping names plan \"", sign_in.plan,
                             "\", which does not exist; ask an administrator"));
          }
          if (!created.ok()) return created.status();
          user_id = created->id;
          result.created = true;
        }
        tx.exec_prepared("oidc.link", sign_in.issuer, sign_in.subject, user_id, sign_in.provider);
        AppendAudit(tx, actor, "user.identity_linked", absl::StrCat("user:", user_id),
                    IdentityJson(sign_in));
        absl::StatusOr<model::User> user = UserByIdInTransaction(tx, user_id);
        if (!user.ok()) return user.status();
        result.user = *std::move(user);
        return result;
      });
}

absl::StatusOr<int64_t> OidcStore::Sweep() {
  return db_.Autocommit(
      {.operation = "sweep single sign-on logins"},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<int64_t> {
        return static_cast<int64_t>(tx.exec_prepared("oidc.sweep").affected_rows());
      });
}

}  // namespace warden::control::store
