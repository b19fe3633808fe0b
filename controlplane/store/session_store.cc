#include "controlplane/store/session_store.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"
#include "controlplane/model/effective_policy.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/family_store.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/limit_columns.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"
#include "controlplane/store/user_store.h"

namespace warden::control::store {
namespace {

// A session row `s` with its user `u` and node `n`, as SessionFromRow reads it.
#define WARDEN_SESSION_COLUMNS                                                                \
  "s.id::text, s.user_id::text, u.username, s.node_id::text, n.name, s.protocol, "            \
  "s.session_key, s.device_label, s.client_address, s.state, epoch_us(s.opened_at), "         \
  "epoch_us(s.last_seen_at), epoch_us(s.closed_at), s.close_reason, s.rx_bytes, s.tx_bytes, " \
  "s.tunnel_address, s.family_id::text, epoch_us(s.kill_failed_at), s.kill_error, "           \
  "s.end_reason"

// The one user an admission is for, named by id ($id) or username ($name):
// the lock and the live-sessions read resolve it alike.
#define WARDEN_ADMITTED_USER(id, name)                                          \
  "(SELECT au.id FROM users au WHERE au.id = NULLIF(" id ", '')::uuid OR "     \
  "au.username = NULLIF(" name ", '') ORDER BY au.id LIMIT 1)"

constexpr Statement kStatements[] = {
    // The caller's deadline bounds every statement of the transaction.
    {"admit.deadline", "SELECT set_config('statement_timeout', $1, true)"},
    // A retried Admit presenting the ticket it was admitted with: the
    // ticket's user and family, without spending the ticket again.
    {"admit.ticket_retry",
     "SELECT t.user_id::text, t.family_id::text FROM tickets t JOIN sessions s "
     "ON s.id = t.session_id WHERE t.hash = decode($1, 'hex') AND t.kind = 'connect' "
     "AND s.node_id = $2::uuid AND s.session_key = $3 AND s.state <> 'closed'"},
    // Step 1: the row lock that serialises this user's admissions on every
    // node and replica. Nothing else is read in this statement: its snapshot
    // predates the lock wait. With $6 (a WireGuard key the node vouches
    // with), whether the key is a live device of this user that Warden
    // provisions to this node.
    // Also the user's limits and plan (resolved in C++, see
    // model::ResolvePolicy), the node's labels, and for a WireGuard key the
    // device's id and expiry.
    {"admit.lock_user",
     "SELECT u.id::text, u.username, u.disabled, epoch_us(u.expires_at), n.state, "
     "cardinality(n.protocols) = 0 OR $4 = ANY(n.protocols), n.trusted_authenticator, "
     "dev.id IS NOT NULL, COALESCE(dev.id::text, ''), epoch_us(dev.expires_at), n.labels::text, "
     "COALESCE(p.name, ''), p.id IS NOT NULL, " WARDEN_LIMIT_COLUMNS("u") ", " WARDEN_LIMIT_COLUMNS(
         "p") " FROM users u JOIN nodes n ON n.id = $3::uuid "
              "LEFT JOIN plans p ON p.id = u.plan_id "
              "LEFT JOIN LATERAL (SELECT d.id, d.expires_at FROM devices d "
              "  WHERE $6 AND 'wireguard' = ANY(n.drivers) AND $5 LIKE 'wg:%' "
              "  AND d.public_key = substr($5, 4) AND d.revoked_at IS NULL AND d.user_id = u.id) "
              "  dev ON true "
              "WHERE u.id = " WARDEN_ADMITTED_USER("$1", "$2") " FOR UPDATE OF u"},
    // Step 2, after the lock (sent in the same round trip, run after it): a
    // fresh snapshot that sees every admission of this user committed before
    // ours. Also finds a live session holding the
    // requested key on this node, whoever owns it, and whether the login
    // family that opened it is still live.
    {"admit.live_sessions",
     "SELECT s.id::text, s.user_id::text, s.state, epoch_us(s.opened_at), n.name, "
     "s.node_id = $2::uuid AND s.session_key = $3, "
     "CASE WHEN s.family_id IS NULL OR s.session_key <> $3 THEN true ELSE EXISTS ("
     "  SELECT 1 FROM login_families f WHERE f.id = s.family_id AND f.revoked_at IS NULL "
     "  AND f.expires_at > now()) END, "
     "s.kill_failed_at IS NOT NULL, n.id::text, n.labels::text, s.protocol "
     "FROM sessions s JOIN nodes n ON n.id = s.node_id "
     "WHERE s.state <> 'closed' "
     "AND (s.user_id = " WARDEN_ADMITTED_USER(
         "$1", "$4") " "
                     "  OR (s.node_id = $2::uuid AND s.session_key = $3))"},
    // For a user with a data quota ($2: its period in days), under the
    // user's lock: the bytes used and granted in the window that contains
    // now, whether the enforcement holds the user in that window, and when
    // bytes next stop counting (the next month; for a rolling window, the
    // next day, when its oldest day leaves it).
    {"admit.quota",
     "WITH w AS (SELECT warden_quota_window_start($2, now()) AS start) "
     "SELECT warden_quota_used(u.id, w.start), warden_quota_granted(u.id, w.start), "
     "u.quota_exceeded AND u.quota_period_start IS NOT DISTINCT FROM w.start, "
     "epoch_us(CASE WHEN $2 = 0 THEN w.start + interval '1 month' "
     "  ELSE (now() AT TIME ZONE 'UTC')::date + interval '1 day' END AT TIME ZONE 'UTC') "
     "FROM users u CROSS JOIN w WHERE u.id = $1::uuid"},
    {"admit.confirm_attempt",
     "UPDATE sessions SET admit_attempt = $2 WHERE id = $1::uuid AND admit_attempt <> $2 "
     "AND state <> 'closed'"},
    // A session whose key the node now gives to a new connection is gone.
    {"admit.replace",
     "WITH closed AS (UPDATE sessions SET state = 'closed', closed_at = now(), "
     "close_reason = 'replaced', end_reason = 'replaced' "
     "WHERE id = ANY($1::uuid[]) AND state <> 'closed' RETURNING id) "
     "UPDATE commands SET acked_at = now(), outcome = 'settled', result = 'superseded' "
     "WHERE session_id = ANY($1::uuid[]) AND acked_at IS NULL"},
    // Step 3: everything the decision writes, in one round trip.
    {"admit.write",
     "WITH created AS ("
     "  INSERT INTO sessions (user_id, node_id, protocol, session_key, device_label, "
     "    client_address, opened_at, admit_attempt, device_id, policy_due_at) "
     "  VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, COALESCE(from_epoch_us($11), now()), $12, "
     "    NULLIF($13, '')::uuid, from_epoch_us($14)) "
     "  RETURNING id), "
     "evicted AS ("
     "  UPDATE sessions SET state = 'closing', close_reason = 'evicted', end_reason = 'evicted' "
     "  WHERE id = ANY($7::uuid[]) AND state = 'active' RETURNING id, node_id, session_key), "
     "kills AS ("
     "  INSERT INTO commands (node_id, kind, session_id, payload, due_at) "
     "  SELECT e.node_id, 'kill_session', e.id, "
     "    jsonb_build_object('session_key', e.session_key, 'reason', 'evicted', "
     "      'reason_code', 'evicted'), "
     "    from_epoch_us($8) FROM evicted e RETURNING id, node_id, session_id), "
     "audit AS ("
     "  INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT $9, 'session.admit', 'session:' || c.id, $10::jsonb FROM created c "
     "  UNION ALL "
     "  SELECT $9, 'session.evict', 'session:' || k.session_id, jsonb_build_object("
     "    'user_id', $1, 'evicted_by', c.id, 'command_id', k.id, 'node_id', k.node_id, "
     "    'kill_due', from_epoch_us($8)) FROM kills k CROSS JOIN created c) "
     // The replica holding each victim's agent stream is woken after the
     // commit (Database::WakeAfterCommit).
     "SELECT c.id::text, k.session_id::text, k.node_id::text, k.id "
     "FROM created c LEFT JOIN kills k ON true"},
    {"close.session",
     "WITH target AS ("
     "  SELECT id, state AS was FROM sessions WHERE node_id = $1::uuid AND state <> 'closed' "
     "    AND (id = NULLIF($2, '')::uuid OR session_key = NULLIF($3, '')) "
     "    AND ($6 = '' OR admit_attempt = $6) FOR UPDATE), "
     "closed AS ("
     "  UPDATE sessions s SET state = 'closed', closed_at = now(), last_seen_at = now(), "
     "    close_reason = CASE WHEN s.state = 'closing' THEN s.close_reason ELSE $4 END, "
     "    end_reason = CASE WHEN s.state = 'closing' THEN s.end_reason "
     "      WHEN $6 <> '' THEN 'admission_abandoned' ELSE 'client' END "
     // The state prunes the update to the live partition: a prepared
     // statement's plan would otherwise open every month of history.
     "  FROM target t WHERE s.id = t.id AND s.state <> 'closed' "
     "  RETURNING s.id, s.user_id, s.close_reason, s.protocol, s.session_key, t.was, "
     "    s.rx_bytes, s.tx_bytes, s.end_reason), "
     // A WireGuard peer killed or evicted stays off this node until its user
     // is under the limit again (the dispatcher's sweep provisions it).
     "withheld AS ("
     "  INSERT INTO wireguard_withheld (device_id, node_id) "
     "  SELECT d.id, $1::uuid FROM closed c JOIN devices d ON d.user_id = c.user_id "
     "    AND d.public_key = substr(c.session_key, 4) AND d.revoked_at IS NULL "
     "  WHERE c.was = 'closing' AND c.protocol = 'wireguard' AND c.session_key LIKE 'wg:%' "
     "  ON CONFLICT DO NOTHING), "
     "finished AS ("
     "  UPDATE commands SET acked_at = now(), outcome = 'settled', result = 'session closed' "
     // A kill already delivered is settled by its agent's answer.
     "  WHERE session_id IN (SELECT id FROM closed) AND kind = 'kill_session' "
     "    AND acked_at IS NULL AND delivered_at IS NULL RETURNING id), "
     "audit AS ("
     "  INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT $5, 'session.close', 'session:' || c.id, jsonb_build_object("
     "    'user_id', c.user_id, 'reason', c.close_reason, 'end_reason', c.end_reason, "
     "    'rx_bytes', c.rx_bytes, 'tx_bytes', c.tx_bytes) FROM closed c) "
     // Whoever waits for the kills settled here is woken after the commit.
     "SELECT id::text, end_reason, (SELECT string_agg(id::text, ',') FROM finished) "
     "FROM closed"},
    {"close.known",
     "SELECT 1 FROM sessions WHERE node_id = $1::uuid "
     "AND (id = NULLIF($2, '')::uuid OR session_key = NULLIF($3, '')) LIMIT 1"},
    // Nodes silent for longer than $1 µs: their sessions are closed as
    // node_lost, freeing their seats (a node that returns with them gets
    // them adopted again). Nodes being attached are skipped (their
    // reconcile holds the row), and re-checked once unlocked.
    {"sessions.close_lost_nodes",
     "WITH lost_nodes AS (SELECT id, name FROM nodes WHERE state <> 'removed' "
     "  AND last_seen_at < now() - $1::bigint * interval '1 microsecond' "
     "  AND EXISTS (SELECT 1 FROM sessions s WHERE s.node_id = nodes.id AND s.state <> 'closed') "
     "  FOR NO KEY UPDATE SKIP LOCKED), "
     "closed AS (UPDATE sessions s SET state = 'closed', closed_at = now(), "
     "  close_reason = 'node_lost', end_reason = 'node_lost' FROM lost_nodes n "
     "  WHERE s.node_id = n.id AND s.state <> 'closed' RETURNING s.id, s.user_id, n.name), "
     "settled AS (UPDATE commands SET acked_at = now(), outcome = 'settled', "
     "  result = 'settled: the node was lost' "
     "  WHERE session_id IN (SELECT id FROM closed) AND acked_at IS NULL RETURNING id), "
     "notified AS (SELECT count(pg_notify('warden_acks', id::text)) AS n FROM settled), "
     "audit AS (INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT 'system', 'session.node_lost', 'session:' || id, "
     "    jsonb_build_object('user_id', user_id, 'node', name, 'end_reason', 'node_lost', "
     "      'reason', 'node_lost') FROM closed) "
     "SELECT count(*) FROM closed CROSS JOIN notified"},
    {"sessions.live_by_protocol",
     "SELECT protocol, count(*) FROM sessions WHERE state <> 'closed' GROUP BY protocol"},
    {"sessions.list",
     "SELECT " WARDEN_SESSION_COLUMNS " FROM sessions s JOIN users u ON u.id = s.user_id "
     "JOIN nodes n ON n.id = s.node_id "
     "WHERE ($1 = '' OR s.user_id = NULLIF($1, '')::uuid) "
     "AND ($2 = '' OR s.node_id = NULLIF($2, '')::uuid) "
     "AND ($3 = '' OR s.state = $3) AND ($4 = '' OR s.protocol = $4) "
     "AND ($5::bigint IS NULL OR (s.opened_at, s.id) < (from_epoch_us($5), $6::uuid)) "
     "AND (NOT $8 OR s.state <> 'closed' OR s.closed_at >= from_epoch_us($9)) "
     "ORDER BY s.opened_at DESC, s.id DESC LIMIT $7"},
    // The session that ended last: closed, or being killed (its reason is
    // known before its node confirms the end).
    {"sessions.last_ended",
     "SELECT " WARDEN_SESSION_COLUMNS " FROM sessions s JOIN users u ON u.id = s.user_id "
     "JOIN nodes n ON n.id = s.node_id WHERE s.user_id = $1::uuid AND s.state <> 'active' "
     "ORDER BY COALESCE(s.closed_at, 'infinity'::timestamptz) DESC, s.last_seen_at DESC, s.id "
     "LIMIT 1"},
    {"sessions.live_count",
     "SELECT count(*) FROM sessions WHERE user_id = $1::uuid AND state = 'active'"},
    {"stats.totals",
     "SELECT count(*), count(*) FILTER (WHERE state = 'closing'), count(DISTINCT user_id) "
     "FROM sessions WHERE state <> 'closed'"},
    {"stats.by_node",
     "SELECT n.name, count(*) FROM sessions s JOIN nodes n ON n.id = s.node_id "
     "WHERE s.state <> 'closed' GROUP BY n.name ORDER BY n.name"},
    {"stats.by_protocol",
     "SELECT protocol, count(*) FROM sessions WHERE state <> 'closed' "
     "GROUP BY protocol ORDER BY protocol"},
};

#undef WARDEN_SESSION_COLUMNS
#undef WARDEN_ADMITTED_USER

model::SessionState SessionStateFromName(const std::string& name) {
  if (name == "closing") return model::SessionState::kClosing;
  if (name == "closed") return model::SessionState::kClosed;
  return model::SessionState::kActive;
}

// A row of WARDEN_SESSION_COLUMNS.
model::Session SessionFromRow(const pqxx::row& row) {
  model::Session session;
  session.id = row[0].as<std::string>();
  session.user_id = row[1].as<std::string>();
  session.username = row[2].as<std::string>();
  session.node_id = row[3].as<std::string>();
  session.node_name = row[4].as<std::string>();
  session.protocol = ProtocolFromName(row[5].as<std::string>()).value_or(model::Protocol::kOpenVpn);
  session.session_key = row[6].as<std::string>();
  session.device_label = row[7].as<std::string>();
  session.client_address = row[8].as<std::string>();
  session.state = SessionStateFromName(row[9].as<std::string>());
  session.opened_at = TimeField(row[10]);
  session.last_seen_at = TimeField(row[11]);
  session.closed_at = OptionalTimeField(row[12]);
  session.close_reason = row[13].as<std::string>();
  session.rx_bytes = row[14].as<int64_t>();
  session.tx_bytes = row[15].as<int64_t>();
  session.tunnel_address = row[16].as<std::string>();
  if (!row[17].is_null()) session.family_id = row[17].as<std::string>();
  session.kill_failed_at = OptionalTimeField(row[18]);
  session.kill_error = row[19].as<std::string>();
  session.end_reason = row[20].as<std::string>();
  return session;
}

nlohmann::json RequestJson(const AdmissionRequest& request) {
  return {{"node", request.node_name},
          {"protocol", std::string(ProtocolName(request.protocol))},
          {"session_key", request.session_key},
          {"device_label", request.device_label},
          {"client_address", request.client_address}};
}

void AppendDenial(StatementRunner& db, const AdmissionRequest& request, const std::string& user_id,
                  const model::Decision& decision) {
  nlohmann::json details = RequestJson(request);
  details["reason"] = std::string(DenyReasonName(decision.reason));
  details["message"] = decision.message;
  if (!decision.detail.empty()) details["detail"] = decision.detail;
  if (!user_id.empty()) details["user_id"] = user_id;
  if (!request.user.username.empty()) details["username"] = request.user.username;
  const std::string subject = user_id.empty() ? absl::StrCat("username:", request.user.username)
                                              : absl::StrCat("user:", user_id);
  db.Queue(AuditCall(model::Actor{request.node_name}, "session.deny", subject, details));
  // WireGuard has no login to refuse: the node drops the peer instead, and
  // it is not provisioned there again until its user is under the limit.
  if (request.protocol == model::Protocol::kWireGuard && !request.node_id.empty()) {
    if (std::optional<Call> withhold = WithholdPeerCall(request.node_id, request.session_key)) {
      db.Queue(*withhold);
    }
  }
}

// A denial, audited; the last round of the transaction.
absl::StatusOr<AdmissionResult> Deny(StatementRunner& db, const AdmissionRequest& request,
                                     const std::string& user_id, AdmissionResult& result) {
  AppendDenial(db, request, user_id, result.decision);
  WARDEN_RETURN_IF_ERROR(db.Flush(/*last=*/true));
  return result;
}

// A connect ticket that admits nobody: denied as bad credentials, audited.
absl::StatusOr<AdmissionResult> DenyTicket(StatementRunner& db, const AdmissionRequest& request,
                                           const std::string& message, AdmissionResult& result) {
  result.unknown_user = true;
  result.decision.reason = model::DenyReason::kBadCredentials;
  result.decision.message = message;
  return Deny(db, request, "", result);
}

// The caller's deadline bounds every statement of the admission.
absl::Status BoundByDeadline(StatementRunner& db, const AdmissionRequest& request) {
  if (!request.commit_by) return absl::OkStatus();
  const absl::Duration left = *request.commit_by - absl::Now();
  if (left <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError("the caller's deadline passed before the admission began");
  }
  db.Queue(MakeCall("admit.deadline",
                    absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(left)), "ms")));
  return absl::OkStatus();
}

// Whom a connect ticket admits, and under which login family.
struct TicketHolder {
  UserRef user;
  std::string family_id;
};

// nullopt: the ticket admits nobody. Spends the ticket, unless this is a
// retry for the connection it admitted: that gets its session back, not a
// refusal.
std::optional<TicketHolder> ResolveTicket(pqxx::work& tx, const AdmissionRequest& request) {
  pqxx::result retried = tx.exec_prepared("admit.ticket_retry", request.ticket->hash_hex,
                                          request.node_id, request.session_key);
  if (!retried.empty()) {
    return TicketHolder{
        .user = UserRef{.id = retried[0][0].as<std::string>(), .username = ""},
        .family_id = retried[0][1].is_null() ? "" : retried[0][1].as<std::string>()};
  }
  // Used from here on, whatever the decision: a ticket is worth one try.
  std::optional<RedeemedTicket> ticket = RedeemConnectTicketInTransaction(
      tx, request.ticket->hash_hex,
      FamilyPolicy{.idle_timeout = request.ticket->family_idle_timeout});
  if (!ticket) return std::nullopt;
  return TicketHolder{.user = UserRef{.id = ticket->user_id, .username = ""},
                      .family_id = ticket->family_id};
}

// The statements of the first round trip after the user is known: the row
// lock that serialises this user's admissions on every node and replica,
// then (run after the lock, with a fresh snapshot) the user's sessions that
// are not closed.
struct FactReads {
  size_t lock = 0;
  size_t live = 0;
};
FactReads QueueFactReads(StatementRunner& db, const AdmissionRequest& request,
                         const UserRef& user) {
  const bool vouched = request.credential == AdmissionRequest::Credential::kVouched;
  return FactReads{
      .lock = db.Queue(MakeCall("admit.lock_user", user.id, user.username, request.node_id,
                                ProtocolName(request.protocol), request.session_key,
                                vouched && request.protocol == model::Protocol::kWireGuard)),
      .live = db.Queue(MakeCall("admit.live_sessions", user.id, request.node_id,
                                request.session_key, user.username))};
}

// What the lock read about the user, their policy and the node, into
// `result` and `facts`. nullopt: no such user; otherwise the id of the
// WireGuard device the session key is ("" when none).
absl::StatusOr<std::optional<std::string>> ReadLock(const TextResult& locked,
                                                    const AdmissionRequest& request,
                                                    AdmissionResult& result,
                                                    model::AdmissionFacts& facts) {
  if (locked.empty()) return std::nullopt;
  const TextRow row = locked[0];
  result.user_id = row[0].as<std::string>();
  result.username = row[1].as<std::string>();
  const std::string node_state = row[4].as<std::string>();
  if (node_state == "removed") {
    return absl::UnauthenticatedError("this node was removed from the fleet");
  }
  if (!row[5].as<bool>()) {
    return absl::FailedPreconditionError(absl::StrCat("node ", request.node_name,
                                                      " is not registered for protocol ",
                                                      ProtocolName(request.protocol)));
  }
  constexpr int kUserLimitsAt = 13;
  const model::LimitSet own = LimitSetFromRow(row, kUserLimitsAt);
  std::optional<model::LimitSet> plan;
  if (row[12].as<bool>()) plan = LimitSetFromRow(row, kUserLimitsAt + kLimitColumns);
  const model::EffectivePolicy policy =
      model::ResolvePolicy(own, plan ? &*plan : nullptr, row[11].as<std::string>());
  facts.limits = model::LimitsOf(policy, row[2].as<bool>(), OptionalTimeField(row[3]));
  facts.requested = model::Requested{.node_id = request.node_id,
                                     .node_labels = NodeLabelsFromJson(row[10].c_str()),
                                     .protocol = request.protocol,
                                     .device_expires_at = OptionalTimeField(row[9])};
  facts.node_draining = node_state == "draining";
  if (request.credential == AdmissionRequest::Credential::kVouched) {
    facts.vouching =
        model::Vouching{.node_trusted = row[6].as<bool>(), .provisioned_device = row[7].as<bool>()};
  }
  return row[8].as<std::string>();
}

// The user's sessions that are not closed, and (into `same_key`) a live
// session holding the requested key on this node, whoever owns it.
std::vector<model::LiveSession> ReadLiveSessions(const TextResult& rows,
                                                 const std::string& user_id,
                                                 std::optional<model::SameKeySession>& same_key) {
  std::vector<model::LiveSession> live;
  for (int i = 0; i < rows.size(); ++i) {
    const TextRow row = rows[i];
    const std::string id = row[0].as<std::string>();
    const bool closing = row[2].as<std::string>() == "closing";
    if (row[5].as<bool>()) {
      same_key = model::SameKeySession{.id = id,
                                       .same_user = row[1].as<std::string>() == user_id,
                                       .closing = closing,
                                       .family_live = row[6].as<bool>()};
      continue;
    }
    live.push_back(model::LiveSession{
        .id = id,
        .node_name = row[4].as<std::string>(),
        .node_id = row[8].as<std::string>(),
        .node_labels = NodeLabelsFromJson(row[9].c_str()),
        .protocol = ProtocolFromName(row[10].as<std::string>()).value_or(model::Protocol::kOpenVpn),
        .opened_at = TimeField(row[3]),
        .closing = closing,
        .kill_failed = row[7].as<bool>(),
        .last_traffic_at = std::nullopt,
        .device_expires_at = std::nullopt});
  }
  return live;
}

// After the user's lock: where the user stands against a data quota, if
// the user has one (a round trip of its own: the period is the user's).
absl::StatusOr<std::optional<model::QuotaFacts>> ReadQuota(StatementRunner& db,
                                                           const std::string& user_id,
                                                           const model::UserLimits& limits) {
  if (limits.data_quota_bytes <= 0) return std::nullopt;
  const size_t quota = db.Queue(MakeCall("admit.quota", user_id, limits.quota_period_days));
  WARDEN_RETURN_IF_ERROR(db.Flush(/*last=*/false));
  const TextResult& rows = db.Result(quota);
  if (rows.size() != 1) return absl::InternalError("the quota read found no user");
  const TextRow row = rows[0];
  return model::QuotaFacts{.used_bytes = row[0].as<int64_t>(),
                           .granted_bytes = row[1].as<int64_t>(),
                           .held = row[2].as<bool>(),
                           .frees_up_at = TimeField(row[3])};
}

// What an admitted decision writes: the replaced sessions closed, the new
// session, its evictions and their kill commands, the audit events. Returns
// the index of the write's result.
size_t QueueAdmissionWrites(StatementRunner& db, const AdmissionRequest& request,
                            const model::AdmissionFacts& facts, const std::string& device_id,
                            const AdmissionResult& result) {
  if (!result.decision.replace.empty()) {
    db.Queue(MakeCall("admit.replace", PgArray(result.decision.replace)));
  }
  nlohmann::json details = RequestJson(request);
  details["user_id"] = result.user_id;
  details["username"] = result.username;
  details["evicted"] = result.decision.evict;
  if (result.decision.bandwidth_bytes_per_second != facts.limits.bandwidth_bytes_per_second) {
    details["quota_throttle_bytes_per_second"] = result.decision.bandwidth_bytes_per_second;
  }
  if (facts.vouching) {
    details["vouched_by"] = facts.vouching->node_trusted ? "trusted_authenticator" : "device_key";
  }
  return db.Queue(MakeCall(
      "admit.write", result.user_id, request.node_id, ProtocolName(request.protocol),
      request.session_key, request.device_label, request.client_address,
      PgArray(result.decision.evict), absl::ToUnixMicros(result.decision.kill_due),
      request.node_name, details.dump(), OptionalMicros(request.opened_at), request.attempt_id,
      device_id, OptionalMicros(result.decision.policy_due_at)));
}

// The new session and the evictions the write recorded.
void ReadAdmissionWrites(const TextResult& written, const model::AdmissionFacts& facts,
                         AdmissionResult& result) {
  for (int i = 0; i < written.size(); ++i) {
    const TextRow row = written[i];
    result.session_id = row[0].as<std::string>();
    if (row[1].is_null()) continue;
    Eviction eviction;
    eviction.session_id = row[1].as<std::string>();
    eviction.node_id = row[2].as<std::string>();
    eviction.command_id = row[3].as<int64_t>();
    eviction.kill_due = result.decision.kill_due;
    for (const model::LiveSession& session : facts.live) {
      if (session.id == eviction.session_id) eviction.node_name = session.node_name;
    }
    result.evictions.push_back(std::move(eviction));
  }
}

// The admission, on either runner: on a pipeline, one round trip reads
// (BEGIN, deadline, lock, live sessions), one writes (and COMMITs); a user
// with a data quota adds one. Connect tickets need the libpqxx transaction.
absl::StatusOr<AdmissionResult> Admit(StatementRunner& db, const AdmissionRequest& request,
                                      Decider decide) {
  AdmissionResult result;
  WARDEN_RETURN_IF_ERROR(BoundByDeadline(db, request));
  UserRef user = request.user;
  std::string family_id;
  if (request.ticket) {
    pqxx::work* tx = db.transaction();
    if (tx == nullptr) return absl::InternalError("connect tickets are admitted in a transaction");
    std::optional<TicketHolder> holder = ResolveTicket(*tx, request);
    if (!holder) return DenyTicket(db, request, "the connect ticket is not valid", result);
    user = holder->user;
    family_id = holder->family_id;
  }
  const FactReads reads = QueueFactReads(db, request, user);
  WARDEN_RETURN_IF_ERROR(db.Flush(/*last=*/false));
  model::AdmissionFacts facts;
  WARDEN_ASSIGN_OR_RETURN(const std::optional<std::string> device_id,
                          ReadLock(db.Result(reads.lock), request, result, facts));
  if (!device_id) {
    result.unknown_user = true;
    result.decision.reason = model::DenyReason::kBadCredentials;
    result.decision.message = "unknown user or wrong password";
    return Deny(db, request, "", result);
  }
  if (!family_id.empty()) {
    // Read again under the user's lock, which a revocation also takes.
    facts.ticket = model::TicketFacts{
        .family_live = FamilyStillLiveInTransaction(*db.transaction(), family_id),
        .named_username = request.user.username,
        .holder_username = result.username};
  }
  const std::vector<model::LiveSession> live =
      ReadLiveSessions(db.Result(reads.live), result.user_id, facts.same_key);
  facts.live = live;
  WARDEN_ASSIGN_OR_RETURN(facts.quota, ReadQuota(db, result.user_id, facts.limits));

  result.decision = decide(facts);
  if (!result.decision.admit) return Deny(db, request, result.user_id, result);
  result.bandwidth_bytes_per_second = result.decision.bandwidth_bytes_per_second;
  if (result.decision.already_live) {
    result.already_live = true;
    result.session_id = facts.same_key->id;
    // The agent now knows the session through this attempt: an earlier
    // attempt it gave up on must not close it.
    if (!request.attempt_id.empty()) {
      db.Queue(MakeCall("admit.confirm_attempt", result.session_id, request.attempt_id));
    }
    WARDEN_RETURN_IF_ERROR(db.Flush(/*last=*/true));
    return result;
  }
  const size_t written = QueueAdmissionWrites(db, request, facts, *device_id, result);
  if (!family_id.empty()) {
    // On the libpqxx transaction tickets run on, the write has run already.
    RecordSessionFamilyInTransaction(*db.transaction(),
                                     db.Result(written)[0][0].as<std::string>(), family_id,
                                     request.ticket->hash_hex);
  }
  if (result.decision.withhold_idle_devices) db.Queue(WithholdIdleDevicesCall(result.user_id));
  WARDEN_RETURN_IF_ERROR(db.Flush(/*last=*/true));
  ReadAdmissionWrites(db.Result(written), facts, result);
  return result;
}

}  // namespace

std::span<const Statement> SessionStatements() { return kStatements; }

absl::string_view DenyReasonName(model::DenyReason reason) {
  switch (reason) {
    case model::DenyReason::kBadCredentials:
      return "bad_credentials";
    case model::DenyReason::kUserDisabled:
      return "user_disabled";
    case model::DenyReason::kDeviceLimitReached:
      return "device_limit_reached";
    case model::DenyReason::kNodeDraining:
      return "node_draining";
    case model::DenyReason::kSessionEnding:
      return "session_ending";
    case model::DenyReason::kAccountExpired:
      return "account_expired";
    case model::DenyReason::kDeviceExpired:
      return "device_expired";
    case model::DenyReason::kProtocolNotAllowed:
      return "protocol_not_allowed";
    case model::DenyReason::kNodeNotAllowed:
      return "node_not_allowed";
    case model::DenyReason::kNodeLimitReached:
      return "node_limit_reached";
    case model::DenyReason::kLabelLimitReached:
      return "label_limit_reached";
    case model::DenyReason::kQuotaExceeded:
      return "quota_exceeded";
  }
  return "";
}

absl::string_view SessionStateName(model::SessionState state) {
  switch (state) {
    case model::SessionState::kActive:
      return "active";
    case model::SessionState::kClosing:
      return "closing";
    case model::SessionState::kClosed:
      return "closed";
  }
  return "";
}

absl::StatusOr<AdmissionResult> AdmitInTransaction(pqxx::work& tx, const AdmissionRequest& request,
                                                   Decider decide) {
  TransactionRunner db(tx);
  return Admit(db, request, decide);
}

absl::StatusOr<AdmissionResult> SessionStore::Admit(const AdmissionRequest& request,
                                                    Decider decide) {
  const ErrorContext context{.operation = "admit session", .idempotent = true};
  absl::StatusOr<AdmissionResult> result =
      request.ticket ? AdmitWithTicket(request, decide)
                     : db_.Pipelined(context, request.commit_by, [&](PipelineRunner& db) {
                         return store::Admit(db, request, decide);
                       });
  if (result.ok()) {
    std::vector<std::string> victims_nodes;
    for (const Eviction& eviction : result->evictions) victims_nodes.push_back(eviction.node_id);
    WakeNodes(db_, victims_nodes);
  }
  return result;
}

absl::StatusOr<AdmissionResult> SessionStore::AdmitWithTicket(const AdmissionRequest& request,
                                                              Decider decide) {
  return db_.Transact(
      {.operation = "admit session", .idempotent = true},
      [&](pqxx::work& tx) -> absl::StatusOr<AdmissionResult> {
        absl::StatusOr<AdmissionResult> result = AdmitInTransaction(tx, request, decide);
        // Rolled back rather than committed for a caller that gave up: it
        // would not know of the session, whose seat would be a ghost.
        if (result.ok() && request.commit_by && absl::Now() >= *request.commit_by) {
          return absl::DeadlineExceededError(
              "the admission finished after the caller's deadline; nothing was recorded");
        }
        return result;
      });
}

absl::Status SessionStore::AuditDenial(const AdmissionRequest& request,
                                       const model::Decision& decision) {
  return db_.Transact({.operation = "record denial"}, [&](pqxx::work& tx) -> absl::Status {
    TransactionRunner db(tx);
    AppendDenial(db, request, request.user.id, decision);
    return absl::OkStatus();
  });
}

absl::StatusOr<SessionStore::CloseResult> SessionStore::Close(
    const std::string& node_id, const std::string& node_name, const std::string& session_id,
    const std::string& session_key, const std::string& reason, const model::UsageSample& final_usage,
    const std::string& abandoned_attempt) {
  std::vector<std::string> settled_kills;
  absl::StatusOr<CloseResult> closed = db_.Pipelined(
      {.operation = "close session"}, std::nullopt,
      [&](PipelineRunner& db) -> absl::StatusOr<CloseResult> {
        settled_kills.clear();  // a retried transaction starts over
        CloseResult result;
        WARDEN_ASSIGN_OR_RETURN(
            result.ledger, CloseInTransaction(db, node_id, node_name, session_id, session_key,
                                              reason, final_usage, abandoned_attempt, settled_kills,
                                              &result.session_id, &result.end_reason));
        return result;
      });
  if (!closed.ok()) return closed;
  if (!closed->session_id.empty()) {
    WakeSettledKills(db_, settled_kills);
    return closed;
  }
  // Nothing live had that id or key: closed before, or never on this node.
  absl::StatusOr<bool> known = db_.Autocommit(
      {.operation = "close session", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<bool> {
        return !tx.exec_prepared("close.known", node_id, session_id, session_key).empty();
      });
  if (!known.ok()) return known.status();
  if (!*known) {
    return absl::NotFoundError(absl::StrCat(
        "no session ", session_id.empty() ? session_key : session_id, " on this node"));
  }
  closed->already_closed = true;
  return closed;
}

absl::StatusOr<LedgerUpdate> CloseInTransaction(
    StatementRunner& db, const std::string& node_id, const std::string& node_name,
    const std::string& session_id, const std::string& session_key, const std::string& reason,
    const model::UsageSample& final_usage, const std::string& abandoned_attempt,
    std::vector<std::string>& settled_kills, std::string* closed_id, std::string* end_reason) {
  // An abandoned attempt's key may belong to a later admission by now: its
  // (empty) counters are not that session's.
  std::optional<size_t> applied;
  if (abandoned_attempt.empty() &&
      (final_usage.sequence != 0 || final_usage.rx_bytes != 0 || final_usage.tx_bytes != 0)) {
    const model::UsageReport report{.node_id = node_id,
                                    .session_id = session_id,
                                    .session_key = session_key,
                                    .sample = final_usage};
    applied = QueueUsageApply(db, std::span(&report, 1));
  }
  const size_t closing = db.Queue(MakeCall("close.session", node_id, session_id, session_key,
                                           reason, node_name, abandoned_attempt));
  WARDEN_RETURN_IF_ERROR(db.Flush(/*last=*/!applied.has_value()));
  LedgerUpdate ledger;
  if (applied) {
    WARDEN_ASSIGN_OR_RETURN(ledger, FinishUsageApply(db, *applied, /*last=*/true));
  }
  const TextResult& closed = db.Result(closing);
  if (!closed.empty() && closed_id != nullptr) *closed_id = closed[0][0].as<std::string>();
  if (!closed.empty() && end_reason != nullptr) *end_reason = closed[0][1].as<std::string>();
  if (!closed.empty() && !closed[0][2].is_null()) {
    for (absl::string_view id : absl::StrSplit(closed[0][2].as<std::string>(), ',')) {
      settled_kills.emplace_back(id);
    }
  }
  return ledger;
}

void WakeSettledKills(Database& db, std::span<const std::string> command_ids) {
  for (const std::string& id : command_ids) db.WakeAfterCommit("warden_acks", id);
}

void WakeNodes(Database& db, std::span<const std::string> node_ids) {
  for (const std::string& id : node_ids) db.WakeAfterCommit("warden_commands", id);
}

absl::StatusOr<std::vector<model::Session>> SessionStore::List(const SessionFilter& filter) {
  std::optional<int64_t> before_us;
  std::string before_id = "00000000-0000-0000-0000-000000000000";
  if (filter.before) {
    before_us = absl::ToUnixMicros(filter.before->first);
    before_id = filter.before->second;
  }
  const std::string state = filter.state ? std::string(SessionStateName(*filter.state)) : "";
  const std::string protocol = filter.protocol ? std::string(ProtocolName(*filter.protocol)) : "";
  return db_.Autocommit(
      {.operation = "list sessions", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::Session>> {
        std::vector<model::Session> sessions;
        for (const auto& row :
             tx.exec_prepared("sessions.list", filter.user_id, filter.node_id, state, protocol,
                              before_us, before_id, filter.limit, filter.open_only,
                              OptionalMicros(filter.or_closed_since))) {
          sessions.push_back(SessionFromRow(row));
        }
        return sessions;
      });
}

absl::StatusOr<FleetStats> SessionStore::Stats() {
  return db_.Transact(
      {.operation = "compute stats"}, [&](pqxx::work& tx) -> absl::StatusOr<FleetStats> {
        FleetStats stats;
        pqxx::row totals = tx.exec_prepared1("stats.totals");
        stats.live_sessions = totals[0].as<int64_t>();
        stats.closing_sessions = totals[1].as<int64_t>();
        stats.users_with_live_sessions = totals[2].as<int64_t>();
        for (const auto& row : tx.exec_prepared("stats.by_node")) {
          stats.live_by_node.emplace_back(row[0].as<std::string>(), row[1].as<int64_t>());
        }
        for (const auto& row : tx.exec_prepared("stats.by_protocol")) {
          if (auto protocol = ProtocolFromName(row[0].as<std::string>())) {
            stats.live_by_protocol.emplace_back(*protocol, row[1].as<int64_t>());
          }
        }
        return stats;
      });
}

absl::StatusOr<int64_t> SessionStore::CloseSessionsOfLostNodes(absl::Duration offline_for) {
  return db_.Transact({.operation = "close sessions of lost nodes"},
                      [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
                        return tx
                            .exec_prepared1("sessions.close_lost_nodes",
                                            absl::ToInt64Microseconds(offline_for))[0]
                            .as<int64_t>();
                      });
}

absl::StatusOr<std::map<std::string, int64_t>> SessionStore::CountLiveByProtocol() {
  return db_.Autocommit(
      {.operation = "count live sessions", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::map<std::string, int64_t>> {
        std::map<std::string, int64_t> counts;
        for (const auto& row : tx.exec_prepared("sessions.live_by_protocol")) {
          counts[row[0].as<std::string>()] = row[1].as<int64_t>();
        }
        return counts;
      });
}

absl::StatusOr<std::optional<model::Session>> SessionStore::LastEnded(const std::string& user_id) {
  return db_.Autocommit(
      {.operation = "read the last ended session", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<model::Session>> {
        pqxx::result rows = tx.exec_prepared("sessions.last_ended", user_id);
        if (rows.empty()) return std::nullopt;
        return SessionFromRow(rows[0]);
      });
}

absl::StatusOr<int64_t> SessionStore::CountLive(const std::string& user_id) {
  return db_.Autocommit({.operation = "count live sessions", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<int64_t> {
                          return tx.exec_prepared1("sessions.live_count", user_id)[0].as<int64_t>();
                        });
}

}  // namespace warden::control::store
