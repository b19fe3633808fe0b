#include "controlplane/store/family_store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"
#include "controlplane/store/user_store.h"

namespace warden::control::store {
namespace {

// pg_advisory_xact_lock(class, key) for one user's connect tickets: class
// "wct" (fixed forever; the two-integer key space is apart from the
// one-bigint keys used elsewhere), key a hash of the user id. It serialises
// issuing for one user only, so that the per-user cap holds exactly; users
// whose ids hash alike merely take turns. Only ticket issuing takes it, and
// first: an admission (ticket row, then user row) or a revocation (user row,
// then family) never waits for it, so it closes no cycle with them.
#define WARDEN_TICKET_LOCK_CLASS "7824244"
static_assert(0x776374 == 7824244);

#define WARDEN_US(n) "$" #n "::bigint * interval '1 microsecond'"

// Family `f` of user `u` may still be used; $IDLE is the idle timeout in µs.
#define WARDEN_FAMILY_LIVE(idle) \
  "f.revoked_at IS NULL AND f.expires_at > now() AND f.last_seen_at > now() - " WARDEN_US(idle)

constexpr Statement kStatements[] = {
    // $1 user, $2 label, $3 refresh hash, $4 access hash, $5 lifetime µs,
    // $6 access ttl µs, $7 actor, $8 client address, $9 how they logged in (jsonb)
    {"families.create",
     "WITH f AS (INSERT INTO login_families (user_id, device_label, expires_at) "
     "  VALUES ($1::uuid, $2, now() + " WARDEN_US(
         5) ") RETURNING id, expires_at), "
            "r AS (INSERT INTO refresh_tokens (token_hash, family_id) "
            "  SELECT decode($3, 'hex'), id FROM f), "
            "a AS (INSERT INTO access_tokens (token_hash, family_id, expires_at) "
            "  SELECT decode($4, 'hex'), id, now() + " WARDEN_US(
                6) " FROM f RETURNING expires_at), "
                   "audit AS (INSERT INTO audit_events (actor, action, subject, details) "
                   "  SELECT $7, 'family.login', 'family:' || f.id, jsonb_build_object("
                   "    'user_id', $1::text, 'device_label', $2::text, 'client_address', $8::text) "
                   "    || $9::jsonb "
                   "FROM f) "
                   "SELECT f.id::text, epoch_us(a.expires_at), epoch_us(f.expires_at) FROM f, a"},
    // One statement: the lease is taken only on the current token of a live
    // family, and only when nobody holds it. $1 hash, $2 request hash,
    // $3 lease µs, $4 idle µs.
    {"families.lease",
     "UPDATE refresh_tokens r SET lease_until = now() + " WARDEN_US(
         3) ", "
            "  lease_request_hash = decode($2, 'hex') "
            "FROM login_families f JOIN users u ON u.id = f.user_id "
            "WHERE r.token_hash = decode($1, 'hex') AND f.id = r.family_id AND r.rotated_at IS "
            "NULL "
            "  AND (r.lease_until IS NULL OR r.lease_until <= now()) AND NOT u.disabled "
            "  AND " WARDEN_FAMILY_LIVE(4) " RETURNING f.id::text, f.user_id::text"},
    // What stands in the way when the lease was not taken. Times are the
    // database's, like the timestamps they are compared with.
    {"families.presented",
     "SELECT f.id::text, f.user_id::text, (NOT u.disabled AND " WARDEN_FAMILY_LIVE(
         3) "), "
            "  r.rotated_at IS NOT NULL, COALESCE(epoch_us(r.lease_until), 0), "
            "  COALESCE(epoch_us(r.rotated_at), 0), "
            "  COALESCE(r.lease_request_hash = decode($2, 'hex'), false), "
            "  COALESCE(encode(r.sealed_result, 'hex'), ''), epoch_us(now()) "
            "FROM refresh_tokens r JOIN login_families f ON f.id = r.family_id "
            "JOIN users u ON u.id = f.user_id WHERE r.token_hash = decode($1, 'hex')"},
    // Only the holder of a lease that has not run out spends the token.
    {"families.spend",
     "UPDATE refresh_tokens SET rotated_at = now(), lease_until = NULL, "
     "  sealed_result = decode($3, 'hex') "
     "WHERE token_hash = decode($1, 'hex') AND rotated_at IS NULL "
     "  AND lease_request_hash = decode($2, 'hex') AND lease_until > now() "
     "RETURNING family_id::text"},
    // The token before the one just spent has a successor in use now: its
    // result is no longer anyone's to recover.
    {"families.drop_older_results",
     "UPDATE refresh_tokens SET sealed_result = NULL "
     "WHERE family_id = $1::uuid AND sealed_result IS NOT NULL AND token_hash <> decode($2, "
     "'hex')"},
    // $1 family, $2 refresh hash, $3 access hash, $4 access ttl µs
    {"families.successor",
     "WITH r AS (INSERT INTO refresh_tokens (token_hash, family_id) "
     "  VALUES (decode($2, 'hex'), $1::uuid)), "
     "f AS (UPDATE login_families SET rotations = rotations + 1, last_seen_at = now() "
     "  WHERE id = $1::uuid) "
     "INSERT INTO access_tokens (token_hash, family_id, expires_at) "
     "VALUES (decode($3, 'hex'), $1::uuid, now() + " WARDEN_US(
         4) ") RETURNING epoch_us(expires_at)"},
    // last_seen_at is written at most once a minute, not on every call.
    {"families.authenticate",
     "WITH g AS (SELECT f.id, f.user_id, u.username, u.disabled, f.last_seen_at "
     "  FROM access_tokens a JOIN login_families f ON f.id = a.family_id "
     "  JOIN users u ON u.id = f.user_id "
     "  WHERE a.token_hash = decode($1, 'hex') AND a.expires_at > now() "
     "    AND " WARDEN_FAMILY_LIVE(
         2) "), "
            "touched AS (UPDATE login_families f SET last_seen_at = now() FROM g "
            "  WHERE f.id = g.id AND g.last_seen_at < now() - interval '1 minute' RETURNING f.id) "
            "SELECT g.id::text, g.user_id::text, g.username, g.disabled, (SELECT count(*) FROM "
            "touched) "
            "FROM g"},
    {"families.ticket_lock",
     "SELECT pg_advisory_xact_lock(" WARDEN_TICKET_LOCK_CLASS ", hashtext($1::text))"},
    // Expired tickets are left to the sweep: they no longer count, and
    // deleting them here would take row locks the sweep takes too.
    {"families.ticket_count_user",
     "SELECT count(*) FROM tickets WHERE kind = 'connect' AND user_id = $1::uuid "
     "AND used_at IS NULL AND expires_at > now()"},
    {"families.ticket_count_all",
     "SELECT count(*) FROM tickets WHERE kind = 'connect' AND used_at IS NULL "
     "AND expires_at > now()"},
    // $1 hash, $2 user, $3 family, $4 actor, $5 ttl µs
    {"families.ticket_insert",
     "INSERT INTO tickets (hash, kind, user_id, family_id, created_by, expires_at) "
     "VALUES (decode($1, 'hex'), 'connect', $2::uuid, $3::uuid, $4, now() + " WARDEN_US(
         5) ") "
            "RETURNING epoch_us(expires_at)"},
    // Used whatever the admission decides. $1 hash, $2 idle µs.
    {"families.redeem_ticket",
     "UPDATE tickets t SET used_at = now() FROM login_families f "
     "WHERE t.hash = decode($1, 'hex') AND t.kind = 'connect' AND t.used_at IS NULL "
     "  AND t.expires_at > now() AND f.id = t.family_id "
     "RETURNING t.user_id::text, t.family_id::text, (" WARDEN_FAMILY_LIVE(2) ")"},
    // Taken before the token row, in the order a revocation takes them.
    {"families.lock_live",
     "SELECT 1 FROM login_families WHERE id = $1::uuid AND revoked_at IS NULL "
     "AND expires_at > now() FOR NO KEY UPDATE"},
    {"families.active_session",
     "SELECT 1 FROM sessions WHERE family_id = $1::uuid AND state = 'active' LIMIT 1"},
    {"families.still_live",
     "SELECT 1 FROM login_families WHERE id = $1::uuid AND revoked_at IS NULL "
     "AND expires_at > now()"},
    {"families.session_family",
     "WITH t AS (UPDATE tickets SET session_id = $1::uuid WHERE hash = decode($3, 'hex')) "
     "UPDATE sessions SET family_id = $2::uuid WHERE id = $1::uuid AND state <> 'closed'"},
    // $2: the owner the family must have ('' = anyone).
    {"families.owner",
     "SELECT user_id::text, revoked_at IS NOT NULL FROM login_families "
     "WHERE id = $1::uuid AND ($2 = '' OR user_id = NULLIF($2, '')::uuid)"},
    {"families.lock_user", "SELECT 1 FROM users WHERE id = $1::uuid FOR UPDATE"},
    // $1 family, $2 actor, $3 reason, $4 audit action. The family's unused
    // tickets are left to the sweep: redemption refuses them already, and
    // touching their rows here would deadlock with an admission redeeming one.
    {"families.revoke",
     "WITH f AS (UPDATE login_families SET revoked_at = now(), revoke_reason = $3 "
     "  WHERE id = $1::uuid AND revoked_at IS NULL RETURNING id, user_id), "
     "results AS (UPDATE refresh_tokens SET sealed_result = NULL, lease_until = NULL "
     "  WHERE family_id IN (SELECT id FROM f)), "
     "access AS (DELETE FROM access_tokens WHERE family_id IN (SELECT id FROM f)), "
     "audit AS (INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT $2, $4, 'family:' || id, jsonb_build_object('user_id', user_id, 'reason', $3::text) "
     "  FROM f) "
     "SELECT id::text FROM f"},
    {"families.live_of_user",
     "SELECT f.id::text FROM login_families f WHERE f.user_id = $1::uuid AND (f.revoked_at IS NULL "
     "OR EXISTS (SELECT 1 FROM sessions s WHERE s.family_id = f.id AND s.state = 'active'))"},
    {"families.list",
     "SELECT f.id::text, f.user_id::text, u.username, f.device_label, epoch_us(f.created_at), "
     "epoch_us(f.last_seen_at), epoch_us(f.expires_at), epoch_us(f.revoked_at), f.revoke_reason, "
     "f.rotations FROM login_families f JOIN users u ON u.id = f.user_id "
     "WHERE ($1 = '' OR f.user_id = NULLIF($1, '')::uuid) AND ($2 = '' OR u.username = $2) "
     "AND ($3 OR (f.revoked_at IS NULL AND f.expires_at > now())) "
     "AND ($4::bigint IS NULL OR (f.created_at, f.id) < (from_epoch_us($4), $5::uuid)) "
     "ORDER BY f.created_at DESC, f.id DESC LIMIT $6"},
    {"families.sweep_access", "DELETE FROM access_tokens WHERE expires_at <= now()"},
    {"families.sweep_families",
     "DELETE FROM login_families WHERE LEAST(COALESCE(revoked_at, 'infinity'), expires_at) "
     "< now() - interval '7 days'"},
};

#undef WARDEN_FAMILY_LIVE
#undef WARDEN_US
#undef WARDEN_TICKET_LOCK_CLASS

int64_t Micros(absl::Duration duration) { return absl::ToInt64Microseconds(duration); }

absl::Time FromMicros(const pqxx::field& field) {
  return absl::FromUnixMicros(field.as<int64_t>());
}

FamilyRecord FamilyFromRow(const pqxx::row& row) {
  FamilyRecord family;
  family.id = row[0].as<std::string>();
  family.user_id = row[1].as<std::string>();
  family.username = row[2].as<std::string>();
  family.device_label = row[3].as<std::string>();
  family.created_at = FromMicros(row[4]);
  family.last_seen_at = FromMicros(row[5]);
  family.expires_at = FromMicros(row[6]);
  if (!row[7].is_null()) family.revoked_at = FromMicros(row[7]);
  family.revoke_reason = row[8].as<std::string>();
  family.rotations = row[9].as<int64_t>();
  return family;
}

// Why a family's tunnels end: Warden's own reasons are codes; anything else
// is an operator's sentence.
model::SessionEnd FamilyEnd(const std::string& reason) {
  if (reason == "refresh_token_replay") return {model::end_reason::kReplayDetected, reason};
  if (reason == model::end_reason::kLogout || reason == model::end_reason::kPasswordChanged)
    return model::EndBecause(reason);
  return {model::end_reason::kFamilyRevoked, reason};
}

// Revokes one family inside `tx`, after taking its user's admission lock so
// that no admission with one of its tickets commits around the kills.
absl::StatusOr<FamilyRevocation> RevokeInTransaction(pqxx::work& tx, const model::Actor& actor,
                                                     const std::string& family_id,
                                                     const std::string& reason, bool kill_sessions,
                                                     const std::string& action,
                                                     const std::string& owner_user_id) {
  pqxx::result owner = tx.exec_prepared("families.owner", family_id, owner_user_id);
  if (owner.empty()) return absl::NotFoundError(absl::StrCat("family ", family_id, " not found"));
  tx.exec_prepared("families.lock_user", owner[0][0].as<std::string>());
  FamilyRevocation revocation;
  revocation.families_revoked =
      tx.exec_prepared("families.revoke", family_id, actor.name, reason, action).empty() ? 0 : 1;
  // A family ended by Logout CURRENT may still have tunnels: they can be
  // killed later. (Sessions already being killed are not killed again.)
  const bool already_revoked = revocation.families_revoked == 0;
  const bool has_active = !tx.exec_prepared("families.active_session", family_id).empty();
  if (kill_sessions && (!already_revoked || has_active)) {
    revocation.kills = KillFamilySessionsInTransaction(tx, actor, family_id, FamilyEnd(reason));
  }
  if (already_revoked && revocation.kills.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("family ", family_id, " is already revoked and has no live sessions"));
  }
  return revocation;
}

}  // namespace

std::span<const Statement> FamilyStatements() { return kStatements; }

std::optional<RedeemedTicket> RedeemConnectTicketInTransaction(pqxx::work& tx,
                                                               const std::string& ticket_hash_hex,
                                                               const FamilyPolicy& policy) {
  pqxx::result rows =
      tx.exec_prepared("families.redeem_ticket", ticket_hash_hex, Micros(policy.idle_timeout));
  if (rows.empty() || !rows[0][2].as<bool>()) return std::nullopt;
  return RedeemedTicket{.user_id = rows[0][0].as<std::string>(),
                        .family_id = rows[0][1].as<std::string>()};
}

bool FamilyStillLiveInTransaction(pqxx::work& tx, const std::string& family_id) {
  return !tx.exec_prepared("families.still_live", family_id).empty();
}

void RecordSessionFamilyInTransaction(pqxx::work& tx, const std::string& session_id,
                                      const std::string& family_id,
                                      const std::string& ticket_hash_hex) {
  tx.exec_prepared("families.session_family", session_id, family_id, ticket_hash_hex);
}

absl::StatusOr<IssuedLogin> FamilyStore::Create(const std::string& user_id,
                                                const std::string& device_label,
                                                const std::string& refresh_hash_hex,
                                                const std::string& access_hash_hex,
                                                const std::string& client_address,
                                                const LoginMethod& method) {
  nlohmann::json how = {{"method", method.method}};
  if (!method.provider.empty()) {
    how["provider"] = method.provider;
    how["issuer"] = method.issuer;
    how["subject"] = method.subject;
  }
  return db_.Transact({.operation = "log in"}, [&](pqxx::work& tx) -> absl::StatusOr<IssuedLogin> {
    pqxx::result rows =
        tx.exec_prepared("families.create", user_id, device_label, refresh_hash_hex,
                         access_hash_hex, Micros(policy_.lifetime), Micros(policy_.access_ttl),
                         absl::StrCat("user:", user_id), client_address, how.dump());
    return IssuedLogin{.family_id = rows[0][0].as<std::string>(),
                       .access_expires_at = FromMicros(rows[0][1]),
                       .family_expires_at = FromMicros(rows[0][2])};
  });
}

absl::StatusOr<RefreshLease> FamilyStore::TakeRefreshLease(const std::string& refresh_hash_hex,
                                                           const std::string& request_hash_hex) {
  return db_.Autocommit(
      {.operation = "refresh"}, [&](pqxx::nontransaction& tx) -> absl::StatusOr<RefreshLease> {
        RefreshLease lease;
        pqxx::result taken =
            tx.exec_prepared("families.lease", refresh_hash_hex, request_hash_hex,
                             Micros(policy_.refresh_lease), Micros(policy_.idle_timeout));
        if (!taken.empty()) {
          lease.acquired = true;
          lease.family_id = taken[0][0].as<std::string>();
          lease.user_id = taken[0][1].as<std::string>();
          return lease;
        }
        pqxx::result found = tx.exec_prepared("families.presented", refresh_hash_hex,
                                              request_hash_hex, Micros(policy_.idle_timeout));
        if (found.empty()) return lease;
        const pqxx::row& row = found[0];
        lease.family_id = row[0].as<std::string>();
        lease.user_id = row[1].as<std::string>();
        model::PresentedToken& token = lease.token;
        token.found = true;
        token.family_live = row[2].as<bool>();
        token.spent = row[3].as<bool>();
        token.lease_until = FromMicros(row[4]);
        token.rotated_at = FromMicros(row[5]);
        token.same_request = row[6].as<bool>();
        lease.sealed_result = absl::HexStringToBytes(row[7].as<std::string>());
        token.has_sealed_result = !lease.sealed_result.empty();
        token.observed_at = FromMicros(row[8]);
        return lease;
      });
}

absl::StatusOr<RotatedTokens> FamilyStore::Rotate(const std::string& family_id,
                                                  const std::string& refresh_hash_hex,
                                                  const std::string& request_hash_hex,
                                                  const std::string& sealed_result,
                                                  const std::string& new_refresh_hash_hex,
                                                  const std::string& new_access_hash_hex) {
  return db_.Transact(
      {.operation = "rotate refresh token"}, [&](pqxx::work& tx) -> absl::StatusOr<RotatedTokens> {
        if (tx.exec_prepared("families.lock_live", family_id).empty()) {
          return absl::FailedPreconditionError("the login ended during the refresh");
        }
        pqxx::result spent = tx.exec_prepared("families.spend", refresh_hash_hex, request_hash_hex,
                                              absl::BytesToHexString(sealed_result));
        if (spent.empty()) {
          return absl::AbortedError("the renewal lease ran out before the rotation finished");
        }
        tx.exec_prepared("families.drop_older_results", family_id, refresh_hash_hex);
        pqxx::result access =
            tx.exec_prepared("families.successor", family_id, new_refresh_hash_hex,
                             new_access_hash_hex, Micros(policy_.access_ttl));
        return RotatedTokens{.access_expires_at = FromMicros(access[0][0])};
      });
}

absl::StatusOr<AccessGrant> FamilyStore::Authenticate(const std::string& access_hash_hex) {
  return db_.Autocommit(
      {.operation = "check access token", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<AccessGrant> {
        pqxx::result rows = tx.exec_prepared("families.authenticate", access_hash_hex,
                                             Micros(policy_.idle_timeout));
        if (rows.empty()) {
          return absl::UnauthenticatedError("the access token is not valid; refresh or log in");
        }
        return AccessGrant{.family_id = rows[0][0].as<std::string>(),
                           .user_id = rows[0][1].as<std::string>(),
                           .username = rows[0][2].as<std::string>(),
                           .user_disabled = rows[0][3].as<bool>()};
      });
}

bool FamilyStore::OutstandingTicketsAtCap(absl::FunctionRef<int64_t()> count_all) {
  if (policy_.max_tickets_total <= 0) return false;
  const absl::Time now = absl::Now();
  bool recount = false;
  {
    absl::MutexLock lock(&outstanding_mu_);
    if (now - outstanding_counted_at_ >= kOutstandingRecount) {
      outstanding_counted_at_ = now;  // this caller recounts; the others go on with the estimate
      recount = true;
    }
  }
  if (recount) {
    const int64_t counted = count_all();
    absl::MutexLock lock(&outstanding_mu_);
    outstanding_ = counted;
  }
  absl::MutexLock lock(&outstanding_mu_);
  if (outstanding_ >= policy_.max_tickets_total) return true;
  ++outstanding_;  // this one, until the next count
  return false;
}

absl::StatusOr<absl::Time> FamilyStore::IssueConnectTicket(const AccessGrant& grant,
                                                           const std::string& ticket_hash_hex) {
  return db_.Transact(
      {.operation = "issue connect ticket"}, [&](pqxx::work& tx) -> absl::StatusOr<absl::Time> {
        tx.exec_prepared("families.ticket_lock", grant.user_id);
        if (tx.exec_prepared("families.ticket_count_user", grant.user_id)[0][0].as<int64_t>() >=
            policy_.max_tickets_per_user) {
          return absl::ResourceExhaustedError(
              absl::StrCat("user ", grant.username, " already has ", policy_.max_tickets_per_user,
                           " unused connect tickets; use one or wait for them to expire"));
        }
        if (OutstandingTicketsAtCap([&] {
              return tx.exec_prepared("families.ticket_count_all")[0][0].as<int64_t>();
            })) {
          return absl::ResourceExhaustedError(
              absl::StrCat(policy_.max_tickets_total,
                           " connect tickets are outstanding; retry in a few seconds"));
        }
        pqxx::result issued = tx.exec_prepared(
            "families.ticket_insert", ticket_hash_hex, grant.user_id, grant.family_id,
            absl::StrCat("family:", grant.family_id), Micros(policy_.ticket_ttl));
        return FromMicros(issued[0][0]);
      });
}

absl::StatusOr<FamilyRevocation> FamilyStore::Revoke(const model::Actor& actor,
                                                     const std::string& family_id,
                                                     const std::string& reason, bool kill_sessions,
                                                     const std::string& action,
                                                     const std::string& owner_user_id) {
  return db_.Transact({.operation = "revoke family"}, [&](pqxx::work& tx) {
    return RevokeInTransaction(tx, actor, family_id, reason, kill_sessions, action, owner_user_id);
  });
}

absl::StatusOr<FamilyRevocation> RevokeUserFamiliesInTransaction(pqxx::work& tx,
                                                                 const model::Actor& actor,
                                                                 const std::string& user_id,
                                                                 const std::string& reason) {
  tx.exec_prepared("families.lock_user", user_id);
  FamilyRevocation total;
  for (const auto& row : tx.exec_prepared("families.live_of_user", user_id)) {
    absl::StatusOr<FamilyRevocation> one = RevokeInTransaction(
        tx, actor, row[0].as<std::string>(), reason, /*kill_sessions=*/true, "family.revoke",
        /*owner_user_id=*/"");
    if (!one.ok() && one.status().code() == absl::StatusCode::kFailedPrecondition) continue;
    if (!one.ok()) return one.status();
    total.families_revoked += one->families_revoked;
    total.kills.insert(total.kills.end(), one->kills.begin(), one->kills.end());
  }
  return total;
}

absl::StatusOr<FamilyRevocation> FamilyStore::RevokeAllOfUser(const model::Actor& actor,
                                                              const std::string& user_id,
                                                              const std::string& username,
                                                              const std::string& reason) {
  return db_.Transact({.operation = "revoke user families"},
                      [&](pqxx::work& tx) -> absl::StatusOr<FamilyRevocation> {
                        absl::StatusOr<UserName> user = FindUser(tx, user_id, username);
                        if (!user.ok()) return user.status();
                        return RevokeUserFamiliesInTransaction(tx, actor, user->id, reason);
                      });
}

absl::StatusOr<FamilyPage> FamilyStore::List(const FamilyFilter& filter) {
  return db_.Autocommit(
      {.operation = "list families", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<FamilyPage> {
        std::optional<int64_t> before_us;
        std::string before_id = "00000000-0000-0000-0000-000000000000";
        if (filter.before) {
          before_us = absl::ToUnixMicros(filter.before->first);
          before_id = filter.before->second;
        }
        FamilyPage page;
        for (const auto& row :
             tx.exec_prepared("families.list", filter.user_id, filter.username,
                              filter.include_revoked, before_us, before_id, filter.limit + 1)) {
          page.families.push_back(FamilyFromRow(row));
        }
        if (static_cast<int>(page.families.size()) > filter.limit) {
          page.families.resize(filter.limit);
          page.last = std::make_pair(page.families.back().created_at, page.families.back().id);
        }
        return page;
      });
}

absl::StatusOr<int64_t> FamilyStore::Sweep() {
  return db_.Autocommit(
      {.operation = "sweep families"}, [&](pqxx::nontransaction& tx) -> absl::StatusOr<int64_t> {
        int64_t removed = tx.exec_prepared("families.sweep_access").affected_rows();
        removed += tx.exec_prepared("families.sweep_families").affected_rows();
        return removed;
      });
}

}  // namespace warden::control::store
