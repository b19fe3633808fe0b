#include "controlplane/store/command_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

// Marks the chosen sessions closing, queues one kill per session, audits,
// and tells the replicas; $1 selects the sessions (see each statement), $2 is
// the actor, $3 the sentence for the user, $4 the end reason's code. A
// session already closing keeps the reason it is ending for (and its kill
// says that one).
#define WARDEN_KILL_TAIL                                                                    \
  "cmds AS ("                                                                               \
  "  INSERT INTO commands (node_id, kind, session_id, payload) "                            \
  "  SELECT node_id, 'kill_session', id, "                                                  \
  "    jsonb_build_object('session_key', session_key, 'reason', close_reason, "             \
  "      'reason_code', end_reason) FROM targets "                                          \
  "  RETURNING id, node_id, session_id), "                                                  \
  "audit AS ("                                                                              \
  "  INSERT INTO audit_events (actor, action, subject, details) "                           \
  "  SELECT $2, 'session.kill', 'session:' || t.id, jsonb_build_object("                    \
  "    'user_id', t.user_id, 'reason', t.close_reason, 'end_reason', t.end_reason, "        \
  "    'command_id', c.id, 'node_id', t.node_id) "                                          \
  "  FROM targets t JOIN cmds c ON c.session_id = t.id), "                                  \
  "notified AS (SELECT count(pg_notify('warden_commands', node_id::text)) AS n FROM cmds) " \
  "SELECT c.id, c.node_id::text FROM cmds c CROSS JOIN notified"

#define WARDEN_MARK_CLOSING                                                                      \
  "state = 'closing', close_reason = CASE WHEN state = 'active' THEN $3 ELSE close_reason END, " \
  "end_reason = CASE WHEN state = 'active' THEN $4 ELSE end_reason END"

constexpr Statement kStatements[] = {
    {"kill.session",
     "WITH targets AS (UPDATE sessions SET " WARDEN_MARK_CLOSING
     " WHERE id = $1::uuid AND state <> 'closed' AND ($5 = '' OR user_id = NULLIF($5, '')::uuid) "
     "RETURNING id, node_id, session_key, user_id, end_reason, close_reason), " WARDEN_KILL_TAIL},
    // $2: the owner the session must have ('' = anyone).
    {"kill.session_state",
     "SELECT state FROM sessions WHERE id = $1::uuid "
     "AND ($2 = '' OR user_id = NULLIF($2, '')::uuid)"},
    {"kill.lock_user", "SELECT 1 FROM users WHERE id = $1::uuid FOR UPDATE"},
    {"kill.user",
     "WITH targets AS (UPDATE sessions SET " WARDEN_MARK_CLOSING
     " WHERE user_id = $1::uuid AND state <> 'closed' "
     "RETURNING id, node_id, session_key, user_id, end_reason, close_reason), " WARDEN_KILL_TAIL},
    {"kill.ids",
     "WITH targets AS (UPDATE sessions SET " WARDEN_MARK_CLOSING
     " WHERE id = ANY($1::uuid[]) AND state = 'active' "
     "RETURNING id, node_id, session_key, user_id, end_reason, close_reason), " WARDEN_KILL_TAIL},
    // A revoked device's sessions: $5 is its key ("wg:<public key>").
    {"kill.device", "WITH targets AS (UPDATE sessions SET " WARDEN_MARK_CLOSING
                    " WHERE user_id = $1::uuid AND protocol = 'wireguard' AND session_key = $5 "
                    "AND state <> 'closed' RETURNING id, node_id, session_key, user_id, "
                    "end_reason, close_reason), " WARDEN_KILL_TAIL},
    // Tunnels opened with a login family's connect tickets: $1 the family.
    {"kill.family",
     "WITH targets AS (UPDATE sessions SET " WARDEN_MARK_CLOSING
     " WHERE family_id = $1::uuid AND state <> 'closed' "
     "RETURNING id, node_id, session_key, user_id, end_reason, close_reason), " WARDEN_KILL_TAIL},
    {"kill.node",
     "WITH targets AS (UPDATE sessions SET " WARDEN_MARK_CLOSING
     " WHERE node_id = $1::uuid AND state <> 'closed' "
     "RETURNING id, node_id, session_key, user_id, end_reason, close_reason), " WARDEN_KILL_TAIL},
    {"drain.set",
     "WITH changed AS (UPDATE nodes SET state = $2, updated_at = now() "
     "  WHERE id = $1::uuid AND state <> 'removed' RETURNING id), "
     "cmd AS (INSERT INTO commands (node_id, kind, payload) "
     "  SELECT id, 'drain', jsonb_build_object('draining', $2 = 'draining') FROM changed "
     "  RETURNING node_id), "
     "notified AS (SELECT count(pg_notify('warden_commands', node_id::text)) AS n FROM cmd) "
     "SELECT id::text FROM changed CROSS JOIN notified"},
    {"commands.pending",
     "SELECT id, kind, COALESCE(session_id::text, ''), COALESCE(payload->>'session_key', ''), "
     "COALESCE(payload->>'reason', ''), COALESCE(payload->>'user_id', ''), "
     "COALESCE((payload->>'bandwidth')::bigint, 0), COALESCE((payload->>'draining')::boolean, "
     "false), epoch_us(due_at), COALESCE(payload->'peer', 'null'::jsonb)::text, "
     "COALESCE(payload->>'reason_code', '') "
     "FROM commands WHERE node_id = $1::uuid AND acked_at IS NULL AND due_at <= now() "
     "ORDER BY id LIMIT $2"},
    {"commands.delivered",
     "UPDATE commands SET delivered_at = COALESCE(delivered_at, now()) "
     "WHERE id = ANY($1::bigint[])"},
    {"commands.undelivered_nodes",
     "SELECT DISTINCT node_id::text FROM commands "
     "WHERE acked_at IS NULL AND delivered_at IS NULL AND due_at <= now()"},
    {"commands.ack_lock",
     "SELECT c.kind, c.attempts, COALESCE(s.state = 'closing', false) FROM commands c "
     "LEFT JOIN sessions s ON s.id = c.session_id "
     "WHERE c.id = $1 AND c.node_id = $2::uuid AND c.acked_at IS NULL FOR UPDATE OF c"},
    // $3 'ok' or 'failed', $4 the agent's words, $5 the line for people.
    {"commands.ack",
     "WITH acked AS (UPDATE commands SET acked_at = now(), outcome = $3, detail = $4, "
     "  result = $5 WHERE id = $1 AND node_id = $2::uuid AND acked_at IS NULL RETURNING id) "
     "SELECT count(*) FROM acked"},
    // A kill the node could not carry out: due again after $4 µs, its
    // session keeps its seat meanwhile, waiters hear of the failure (woken
    // after the commit).
    {"commands.retry_kill",
     "WITH c AS (UPDATE commands SET attempts = attempts + 1, last_error = $3, "
     "  delivered_at = NULL, due_at = now() + $4::bigint * interval '1 microsecond' "
     "  WHERE id = $1 AND node_id = $2::uuid RETURNING session_id, attempts), "
     "s AS (UPDATE sessions SET kill_failed_at = COALESCE(kill_failed_at, now()), kill_error = $3 "
     "  FROM c WHERE sessions.id = c.session_id AND sessions.state = 'closing' "
     "  RETURNING sessions.id, sessions.user_id), "
     "audit AS (INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT (SELECT name FROM nodes WHERE id = $2::uuid), 'session.kill_failed', "
     "    'session:' || s.id, jsonb_build_object('user_id', s.user_id, 'error', $3::text, "
     "    'command_id', $1::bigint, 'attempts', c.attempts, 'retry_in_ms', $4::bigint / 1000) "
     "  FROM s, c) "
     "SELECT c.attempts FROM c"},
    // An agent's answer, or the failure of its last attempt while it is
    // being retried.
    {"commands.outcome",
     "SELECT COALESCE(outcome, ''), COALESCE(result, ''), last_error FROM commands "
     "WHERE id = $1"},
    // The operator declares the session gone: closed at once, its seat free,
    // its pending kills settled. $2 actor, $3 reason.
    {"commands.force_close",
     "WITH closed AS (UPDATE sessions SET state = 'closed', closed_at = now(), "
     "  close_reason = $3, end_reason = CASE WHEN state = 'closing' THEN end_reason "
     "    ELSE 'killed_by_admin' END WHERE id = $1::uuid AND state <> 'closed' "
     "  RETURNING id, user_id, node_id, kill_error, end_reason), "
     "settled AS (UPDATE commands SET acked_at = now(), outcome = 'settled', "
     "  result = 'settled: the session was closed by force' "
     "  WHERE session_id IN (SELECT id FROM closed) AND acked_at IS NULL RETURNING id), "
     "notified AS (SELECT count(pg_notify('warden_acks', id::text)) AS n FROM settled), "
     "audit AS (INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT $2, 'session.force_close', 'session:' || id, jsonb_build_object("
     "    'user_id', user_id, 'node_id', node_id, 'reason', $3::text, "
     "    'end_reason', end_reason, 'kill_error', kill_error) FROM closed) "
     "SELECT id::text FROM closed CROSS JOIN notified"},
};

#undef WARDEN_KILL_TAIL
#undef WARDEN_MARK_CLOSING

std::vector<QueuedCommand> Queued(const pqxx::result& rows) {
  std::vector<QueuedCommand> queued;
  for (const auto& row : rows) {
    queued.push_back(
        QueuedCommand{.command_id = row[0].as<int64_t>(), .node_id = row[1].as<std::string>()});
  }
  return queued;
}

// commands.outcome: how a settled command ended.
constexpr char kOutcomeOk[] = "ok";
constexpr char kOutcomeFailed[] = "failed";
constexpr char kOutcomeSettled[] = "settled";

}  // namespace

std::span<const Statement> CommandStatements() { return kStatements; }

std::vector<QueuedCommand> KillSessionsByKeyInTransaction(pqxx::work& tx, const model::Actor& actor,
                                                          const std::string& user_id,
                                                          const std::string& session_key,
                                                          const model::SessionEnd& end) {
  return Queued(
      tx.exec_prepared("kill.device", user_id, actor.name, end.message, end.code, session_key));
}

std::vector<QueuedCommand> KillUserSessionsInTransaction(pqxx::work& tx, const model::Actor& actor,
                                                         const std::string& user_id,
                                                         const model::SessionEnd& end) {
  return Queued(tx.exec_prepared("kill.user", user_id, actor.name, end.message, end.code));
}

std::vector<QueuedCommand> KillSessionsInTransaction(pqxx::work& tx, const model::Actor& actor,
                                                     std::span<const std::string> session_ids,
                                                     const model::SessionEnd& end) {
  if (session_ids.empty()) return {};
  return Queued(tx.exec_prepared("kill.ids",
                                 absl::StrCat("{", absl::StrJoin(session_ids, ","), "}"),
                                 actor.name, end.message, end.code));
}

std::vector<QueuedCommand> KillFamilySessionsInTransaction(pqxx::work& tx,
                                                           const model::Actor& actor,
                                                           const std::string& family_id,
                                                           const model::SessionEnd& end) {
  return Queued(tx.exec_prepared("kill.family", family_id, actor.name, end.message, end.code));
}

absl::StatusOr<QueuedCommand> CommandStore::KillSession(const model::Actor& actor,
                                                        const std::string& session_id,
                                                        const model::SessionEnd& end,
                                                        const std::string& owner_user_id) {
  return db_.Transact(
      {.operation = "kill session"}, [&](pqxx::work& tx) -> absl::StatusOr<QueuedCommand> {
        std::vector<QueuedCommand> queued = Queued(tx.exec_prepared(
            "kill.session", session_id, actor.name, end.message, end.code, owner_user_id));
        if (!queued.empty()) return queued.front();
        // Another user's session is as unknown to the caller as one that
        // never existed.
        if (tx.exec_prepared("kill.session_state", session_id, owner_user_id).empty()) {
          return absl::NotFoundError(absl::StrCat("session ", session_id, " not found"));
        }
        return absl::FailedPreconditionError(
            absl::StrCat("session ", session_id, " is already closed"));
      });
}

absl::StatusOr<std::vector<QueuedCommand>> CommandStore::DisconnectUser(const model::Actor& actor,
                                                                        const std::string& user_id,
                                                                        const std::string& reason) {
  return db_.Transact({.operation = "disconnect user"},
                      [&](pqxx::work& tx) -> absl::StatusOr<std::vector<QueuedCommand>> {
                        // The admission lock: no admission of this user interleaves.
                        if (tx.exec_prepared("kill.lock_user", user_id).empty()) {
                          return absl::NotFoundError(absl::StrCat("user ", user_id, " not found"));
                        }
                        return KillUserSessionsInTransaction(
                            tx, actor, user_id,
                            model::SessionEnd{model::end_reason::kKilledByAdmin, reason});
                      });
}

absl::StatusOr<model::Node> CommandStore::DrainNode(const model::Actor& actor,
                                                    const std::string& node_id,
                                                    bool kill_sessions) {
  absl::Status changed =
      db_.Transact({.operation = "drain node"}, [&](pqxx::work& tx) -> absl::Status {
        if (tx.exec_prepared("drain.set", node_id, "draining").empty()) {
          return absl::NotFoundError(absl::StrCat("node ", node_id, " not found"));
        }
        int64_t killed = 0;
        if (kill_sessions) {
          killed =
              static_cast<int64_t>(tx.exec_prepared("kill.node", node_id, actor.name,
                                                    "node drained", model::end_reason::kNodeDrained)
                                       .size());
        }
        AppendAudit(tx, actor, "node.drain", absl::StrCat("node:", node_id),
                    {{"kill_sessions", kill_sessions}, {"sessions_killed", killed}});
        return absl::OkStatus();
      });
  if (!changed.ok()) return changed;
  return NodeStore(db_).GetById(node_id);
}

absl::StatusOr<model::Node> CommandStore::UndrainNode(const model::Actor& actor,
                                                      const std::string& node_id) {
  absl::Status changed =
      db_.Transact({.operation = "undrain node"}, [&](pqxx::work& tx) -> absl::Status {
        if (tx.exec_prepared("drain.set", node_id, "active").empty()) {
          return absl::NotFoundError(absl::StrCat("node ", node_id, " not found"));
        }
        AppendAudit(tx, actor, "node.undrain", absl::StrCat("node:", node_id),
                    nlohmann::json::object());
        return absl::OkStatus();
      });
  if (!changed.ok()) return changed;
  return NodeStore(db_).GetById(node_id);
}

absl::StatusOr<PendingCommands> CommandStore::Pending(const std::string& node_id, int limit) {
  return db_.Autocommit(
      {.operation = "read pending commands", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<PendingCommands> {
        PendingCommands pending;
        std::vector<model::Command>& commands = pending.commands;
        for (const auto& row : tx.exec_prepared("commands.pending", node_id, limit)) {
          model::Command command;
          command.id = row[0].as<int64_t>();
          command.node_id = node_id;
          const std::string kind = row[1].as<std::string>();
          const std::optional<model::CommandKind> known = model::KindFromName(kind);
          if (!known) {
            pending.unreadable.push_back(absl::StrCat(
                "command ", command.id, " has a kind this replica does not know: \"", kind, "\""));
            continue;
          }
          command.kind = *known;
          command.session_id = row[2].as<std::string>();
          command.session_key = row[3].as<std::string>();
          command.reason = row[4].as<std::string>();
          command.reason_code = row[10].as<std::string>();
          command.user_id = row[5].as<std::string>();
          command.bandwidth_bytes_per_second = row[6].as<int64_t>();
          command.draining = row[7].as<bool>();
          command.due_at = TimeField(row[8]);
          if (command.kind == model::CommandKind::kAddPeer ||
              command.kind == model::CommandKind::kRemovePeer) {
            command.peer = PeerFromJson(row[9].as<std::string>());
          }
          commands.push_back(std::move(command));
        }
        return pending;
      });
}

absl::Status CommandStore::MarkDelivered(std::span<const int64_t> command_ids) {
  if (command_ids.empty()) return absl::OkStatus();
  const std::string ids = absl::StrCat("{", absl::StrJoin(command_ids, ","), "}");
  return db_.Autocommit({.operation = "mark commands delivered", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::Status {
                          tx.exec_prepared("commands.delivered", ids);
                          return absl::OkStatus();
                        });
}

absl::StatusOr<std::vector<std::string>> CommandStore::NodesWithUndelivered() {
  return db_.Autocommit({.operation = "find due commands", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<std::string>> {
                          std::vector<std::string> nodes;
                          for (const auto& row : tx.exec_prepared("commands.undelivered_nodes")) {
                            nodes.push_back(row[0].as<std::string>());
                          }
                          return nodes;
                        });
}

absl::StatusOr<Acknowledgement> CommandStore::Acknowledge(const std::string& node_id,
                                                          int64_t command_id, bool ok,
                                                          const std::string& result,
                                                          RetrySchedule retry_delay) {
  const std::string text = model::AnswerText(ok, result);
  absl::StatusOr<Acknowledgement> recorded = db_.Transact(
      {.operation = "record command result"},
      [&](pqxx::work& tx) -> absl::StatusOr<Acknowledgement> {
        Acknowledgement acknowledgement;
        pqxx::result pending = tx.exec_prepared("commands.ack_lock", command_id, node_id);
        if (pending.empty()) return acknowledgement;  // unknown here, or answered before
        acknowledgement.recorded = true;
        const bool kill = pending[0][0].as<std::string>() == "kill_session";
        const bool tunnel_may_be_up = pending[0][2].as<bool>();
        if (!ok && kill && tunnel_may_be_up) {
          const absl::Duration delay = retry_delay(pending[0][1].as<int>() + 1);
          tx.exec_prepared("commands.retry_kill", command_id, node_id, result,
                           absl::ToInt64Microseconds(delay));
          acknowledgement.retry_in = delay;
          return acknowledgement;
        }
        tx.exec_prepared("commands.ack", command_id, node_id, ok ? kOutcomeOk : kOutcomeFailed,
                         result, text);
        return acknowledgement;
      });
  // Waiters on other replicas read the answer from the table.
  if (recorded.ok() && recorded->recorded) {
    db_.WakeAfterCommit("warden_acks", std::to_string(command_id));
  }
  return recorded;
}

absl::StatusOr<std::string> CommandStore::ForceClose(const model::Actor& actor,
                                                     const std::string& session_id,
                                                     const std::string& reason) {
  return db_.Transact(
      {.operation = "close session by force"}, [&](pqxx::work& tx) -> absl::StatusOr<std::string> {
        pqxx::result closed =
            tx.exec_prepared("commands.force_close", session_id, actor.name, reason);
        if (!closed.empty()) return closed[0][0].as<std::string>();
        if (tx.exec_prepared("kill.session_state", session_id, /*owner_user_id=*/"").empty()) {
          return absl::NotFoundError(absl::StrCat("session ", session_id, " not found"));
        }
        return absl::FailedPreconditionError(
            absl::StrCat("session ", session_id, " is already closed"));
      });
}

absl::StatusOr<model::CommandOutcome> CommandStore::Outcome(int64_t command_id) {
  return db_.Autocommit(
      {.operation = "read command result", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::CommandOutcome> {
        pqxx::result rows = tx.exec_prepared("commands.outcome", command_id);
        if (rows.empty())
          return absl::NotFoundError(absl::StrCat("command ", command_id, " not found"));
        const std::string ended = rows[0][0].as<std::string>();
        if (ended.empty()) {
          // Not settled; a failed kill being retried has been answered, though.
          if (rows[0][2].is_null()) return model::CommandOutcome{};
          return model::AnswerOutcome(/*ok=*/false, rows[0][2].as<std::string>(),
                                      /*retrying=*/true);
        }
        return model::CommandOutcome{.acknowledged = true,
                                     .settled = true,
                                     .ok = ended == kOutcomeOk || ended == kOutcomeSettled,
                                     .result = rows[0][1].as<std::string>()};
      });
}

}  // namespace warden::control::store
