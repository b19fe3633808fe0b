#include "controlplane/store/attach_store.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

constexpr Statement kStatements[] = {
    // A node that was offline comes online (node.online).
    {"attach.epoch",
     "WITH n AS (UPDATE nodes SET attach_epoch = attach_epoch + 1, attached_replica = $2, "
     "  agent_version = $3, drivers = $4::text[], wireguard_interfaces = $5::jsonb, "
     "  last_seen_at = now(), online = true "
     "  FROM (SELECT online AS was_online FROM nodes WHERE id = $1::uuid) p "
     "  WHERE id = $1::uuid AND state <> 'removed' "
     "  RETURNING id, attach_epoch, name, state, p.was_online), "
     "announced AS (INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT name, 'node.online', 'node:' || id, jsonb_build_object('node', name, "
     "    'agent_version', $3::text, 'drivers', $4::text[]) FROM n WHERE NOT was_online) "
     "SELECT attach_epoch, name, state, pg_notify('warden_attach', id::text || ':' || "
     "attach_epoch) "
     "FROM n"},
    // Holding the node row for the whole reconcile serialises it against a
    // newer attach of the same node. NO KEY UPDATE, not UPDATE: admissions
    // on this node (which hold their user's row) insert sessions that take
    // a key-share lock on it, and must not wait for a reconcile that waits
    // for their user.
    {"reconcile.lock_node", "SELECT attach_epoch FROM nodes WHERE id = $1::uuid FOR NO KEY UPDATE"},
    // May the node carry a session of this user that Warden does not know?
    // Only with evidence, read without locking the user: the node is a
    // trusted authenticator; the key is a device of the user provisioned to
    // it; the user has or recently had a session on this node (an agent
    // admits only such users while the control plane is away); or the
    // session is one this node's absence closed. Not when the same key on
    // this node was recently killed: that kill must not be undone.
    // $1 node, $2 username, $3 key, $4 session id, $5 window µs, $6 WireGuard.
    {"reconcile.admissible",
     "SELECT u.id::text, NOT EXISTS (SELECT 1 FROM sessions s JOIN commands c "
     "    ON c.session_id = s.id AND c.kind = 'kill_session' "
     "    WHERE s.node_id = n.id AND s.session_key = $3 "
     "    AND s.closed_at > now() - $5::bigint * interval '1 microsecond') "
     "  AND (n.trusted_authenticator "
     "  OR ($6 AND 'wireguard' = ANY(n.drivers) AND $3 LIKE 'wg:%' AND EXISTS ("
     "    SELECT 1 FROM devices d WHERE d.public_key = substr($3, 4) AND d.revoked_at IS NULL "
     "    AND d.user_id = u.id)) "
     "  OR EXISTS (SELECT 1 FROM sessions s WHERE s.node_id = n.id AND s.user_id = u.id "
     "    AND s.closed_at IS NULL) "
     "  OR EXISTS (SELECT 1 FROM sessions s WHERE s.node_id = n.id AND s.user_id = u.id "
     "    AND s.closed_at > now() - $5::bigint * interval '1 microsecond') "
     "  OR EXISTS (SELECT 1 FROM sessions s WHERE s.id = NULLIF($4, '')::uuid "
     "    AND s.node_id = n.id AND s.user_id = u.id AND s.close_reason = 'node_lost')) "
     "FROM nodes n, users u WHERE n.id = $1::uuid AND u.username = $2"},
    {"reconcile.live",
     "SELECT id::text, session_key FROM sessions WHERE node_id = $1::uuid AND state <> 'closed'"},
    {"reconcile.lost",
     "WITH target AS (SELECT id, state AS was FROM sessions "
     "  WHERE id = ANY($1::uuid[]) AND state <> 'closed' FOR UPDATE), "
     "lost AS (UPDATE sessions s SET state = 'closed', closed_at = now(), "
     "  close_reason = CASE WHEN s.state = 'closing' THEN s.close_reason ELSE 'lost' END, "
     "  end_reason = CASE WHEN s.state = 'closing' THEN s.end_reason ELSE 'lost_on_node' END "
     "  FROM target t WHERE s.id = t.id "
     "  RETURNING s.id, s.user_id, s.node_id, s.close_reason, s.protocol, s.session_key, t.was, "
     "    s.end_reason), "
     // A WireGuard peer killed or evicted while the link was down stays off
     // the node (it is left out of the Welcome) until its user is under the limit.
     "withheld AS (INSERT INTO wireguard_withheld (device_id, node_id) "
     "  SELECT d.id, l.node_id FROM lost l JOIN devices d ON d.user_id = l.user_id "
     "    AND d.public_key = substr(l.session_key, 4) AND d.revoked_at IS NULL "
     "  WHERE l.was = 'closing' AND l.protocol = 'wireguard' AND l.session_key LIKE 'wg:%' "
     "  ON CONFLICT DO NOTHING), "
     "settled AS (UPDATE commands SET acked_at = now(), outcome = 'settled', result = 'session "
     "gone' "
     "  WHERE session_id IN (SELECT id FROM lost) AND acked_at IS NULL RETURNING id), "
     "notified AS (SELECT count(pg_notify('warden_acks', id::text)) AS n FROM settled), "
     "audit AS (INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT $2, 'session.lost', 'session:' || id, "
     "    jsonb_build_object('user_id', user_id, 'reason', close_reason, 'end_reason', end_reason) "
     "  FROM lost) "
     "SELECT count(*) FROM lost CROSS JOIN notified"},
    {"reconcile.refresh",
     "UPDATE sessions SET last_seen_at = now() WHERE id = ANY($1::uuid[]) "
     "AND state <> 'closed'"},
    // A session adopted back after its node was given up on is the tunnel
    // the closed row counted: its counters go on from where that row's
    // stopped, so the bytes it counted are not counted again.
    {"reconcile.carry_counters",
     "UPDATE sessions s SET counter_rx = o.counter_rx, counter_tx = o.counter_tx, "
     "usage_sequence = o.usage_sequence FROM (SELECT counter_rx, counter_tx, usage_sequence "
     "  FROM sessions WHERE node_id = $1::uuid AND session_key = $2 AND state = 'closed' "
     "  AND close_reason = 'node_lost' AND id <> $3::uuid ORDER BY closed_at DESC LIMIT 1) o "
     "WHERE s.id = $3::uuid"},
    // An inventory session the rules refuse: recorded as closing, with its
    // kill and an audit event ($8 the action, $9 the node's name).
    {"reconcile.refuse",
     "WITH s AS (INSERT INTO sessions (user_id, node_id, protocol, session_key, device_label, "
     "  client_address, state, close_reason, end_reason) "
     "  VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, 'closing', $7, 'not_admissible') "
     "  RETURNING id, user_id, node_id, session_key), "
     "audit AS (INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT $9, $8, 'session:' || id, jsonb_build_object('user_id', user_id, "
     "    'session_key', session_key, 'reason', $7::text, 'end_reason', 'not_admissible') FROM s) "
     "INSERT INTO commands (node_id, kind, session_id, payload) "
     "SELECT node_id, 'kill_session', id, jsonb_build_object('session_key', session_key, "
     "  'reason', $7::text, 'reason_code', 'not_admissible') FROM s RETURNING id, node_id::text"},
    // ... or, for a user that does not exist, just the kill.
    {"reconcile.refuse_key",
     "INSERT INTO commands (node_id, kind, payload) VALUES ($1::uuid, 'kill_session', "
     "jsonb_build_object('session_key', $2::text, 'reason', $3::text, "
     "  'reason_code', 'not_admissible')) RETURNING id, "
     "node_id::text"},
    {"nodes.touch", "UPDATE nodes SET last_seen_at = now() WHERE id = ANY($1::uuid[])"},
    // Nodes unheard for $1 µs: announced offline once (node.online again
    // when they attach).
    {"nodes.announce_offline",
     "WITH off AS (UPDATE nodes SET online = false WHERE online AND state <> 'removed' "
     "  AND last_seen_at < now() - $1::bigint * interval '1 microsecond' "
     "  RETURNING id, name, last_seen_at), "
     "audit AS (INSERT INTO audit_events (actor, action, subject, details) "
     "  SELECT 'system', 'node.offline', 'node:' || id, jsonb_build_object('node', name, "
     "    'last_seen_at', last_seen_at) FROM off) "
     "SELECT count(*) FROM off"},
    {"sessions.opened",
     "UPDATE sessions SET tunnel_address = $4, last_seen_at = now() "
     "WHERE node_id = $1::uuid AND state <> 'closed' "
     "AND (id = NULLIF($2, '')::uuid OR session_key = NULLIF($3, ''))"},
};

void AppendKills(const pqxx::result& rows, std::vector<QueuedCommand>& kills) {
  for (const auto& row : rows) {
    kills.push_back(
        QueuedCommand{.command_id = row[0].as<int64_t>(), .node_id = row[1].as<std::string>()});
  }
}

}  // namespace

std::span<const Statement> AttachStatements() { return kStatements; }

absl::StatusOr<Attachment> AttachStore::Attach(
    const std::string& node_id, const std::string& replica, const std::string& agent_version,
    std::span<const std::string> drivers, std::span<const model::WireGuardInterface> wireguard) {
  nlohmann::json interfaces = nlohmann::json::array();
  for (const model::WireGuardInterface& wg : wireguard) {
    interfaces.push_back({{"interface", wg.iface},
                          {"public_key", wg.public_key},
                          {"endpoint", wg.endpoint},
                          {"listen_port", wg.listen_port}});
  }
  return db_.Autocommit(
      {.operation = "attach node"}, [&](pqxx::nontransaction& tx) -> absl::StatusOr<Attachment> {
        pqxx::result rows = tx.exec_prepared("attach.epoch", node_id, replica, agent_version,
                                             PgTextArray(drivers), interfaces.dump());
        if (rows.empty()) return absl::NotFoundError("this node was removed from the fleet");
        return Attachment{.epoch = rows[0][0].as<int64_t>(),
                          .node_name = rows[0][1].as<std::string>(),
                          .draining = rows[0][2].as<std::string>() == "draining"};
      });
}

absl::StatusOr<ReconcileResult> AttachStore::Reconcile(
    const std::string& node_id, const std::string& node_name, int64_t epoch,
    std::span<const InventoryItem> inventory, std::span<const ClosedReport> closed_while_away,
    absl::Duration adopt_window, Decider decide) {
  std::vector<std::string> settled_kills;
  absl::StatusOr<ReconcileResult> reconciled = db_.Transact(
      {.operation = "reconcile node"}, [&](pqxx::work& tx) -> absl::StatusOr<ReconcileResult> {
        settled_kills.clear();  // a retried transaction starts over
        ReconcileResult result;
        pqxx::result node = tx.exec_prepared("reconcile.lock_node", node_id);
        if (node.empty() || node[0][0].as<int64_t>() != epoch) {
          return absl::AbortedError("superseded by a newer attach of this node");
        }
        TransactionRunner runner(tx);
        for (const ClosedReport& closed : closed_while_away) {
          WARDEN_RETURN_IF_ERROR(
              CloseInTransaction(runner, node_id, node_name, closed.session_id, closed.session_key,
                                 closed.reason.empty() ? "closed" : closed.reason, closed.usage,
                                 closed.abandoned_attempt, settled_kills, nullptr)
                  .status());
        }

        std::map<std::string, std::string> live_by_key;  // key → id
        std::set<std::string> live_ids;
        for (const auto& row : tx.exec_prepared("reconcile.live", node_id)) {
          live_by_key[row[1].as<std::string>()] = row[0].as<std::string>();
          live_ids.insert(row[0].as<std::string>());
        }
        std::vector<std::string> seen_ids;
        // The counters of every session the node carries, known or adopted.
        std::vector<model::UsageReport> counters;
        std::vector<const InventoryItem*> unknown;
        for (const InventoryItem& item : inventory) {
          std::string id;
          if (!item.session_id.empty() && live_ids.count(item.session_id)) {
            id = item.session_id;
          } else if (auto it = live_by_key.find(item.session_key); it != live_by_key.end()) {
            id = it->second;
          }
          if (id.empty()) {
            unknown.push_back(&item);
            continue;
          }
          seen_ids.push_back(id);
          counters.push_back(
              {.node_id = node_id, .session_id = id, .session_key = "", .sample = item.usage});
        }
        std::vector<std::string> lost;
        std::set<std::string> seen(seen_ids.begin(), seen_ids.end());
        for (const std::string& id : live_ids) {
          if (!seen.count(id)) lost.push_back(id);
        }
        if (!lost.empty()) {
          result.closed_as_lost = static_cast<int>(
              tx.exec_prepared1("reconcile.lost", PgArray(lost), node_name)[0].as<int64_t>());
        }
        if (!seen_ids.empty()) tx.exec_prepared("reconcile.refresh", PgArray(seen_ids));

        // Unknown sessions go through admission user by user, in one order,
        // so that reconciles of several nodes cannot deadlock on user rows.
        std::sort(
            unknown.begin(), unknown.end(), [](const InventoryItem* a, const InventoryItem* b) {
              return std::tie(a->username, a->session_key) < std::tie(b->username, b->session_key);
            });
        for (const InventoryItem* item : unknown) {
          const bool wireguard = item->protocol == model::Protocol::kWireGuard;
          pqxx::result admissible = tx.exec_prepared(
              "reconcile.admissible", node_id, item->username, item->session_key, item->session_id,
              absl::ToInt64Microseconds(adopt_window), wireguard);
          if (admissible.empty() || !admissible[0][1].as<bool>()) {
            // The node could not have admitted it: refused without locking
            // the user, so a Hello cannot hold up users it has no claim on.
            ++result.not_admissible;
            pqxx::result kill =
                admissible.empty()
                    ? tx.exec_prepared("reconcile.refuse_key", node_id, item->session_key,
                                       "not_admissible")
                    : tx.exec_prepared("reconcile.refuse", admissible[0][0].as<std::string>(),
                                       node_id, std::string(ProtocolName(item->protocol)),
                                       item->session_key, item->device_label, item->client_address,
                                       "not_admissible", "session.not_admissible", node_name);
            AppendKills(kill, result.kills);
            continue;
          }
          AdmissionRequest request{.node_id = node_id,
                                   .node_name = node_name,
                                   .protocol = item->protocol,
                                   .session_key = item->session_key,
                                   .device_label = item->device_label,
                                   .client_address = item->client_address,
                                   .user = UserRef{.id = "", .username = item->username},
                                   .credential = AdmissionRequest::Credential::kInventory,
                                   .ticket = std::nullopt,
                                   .opened_at = item->opened_at,
                                   .commit_by = std::nullopt,
                                   .attempt_id = ""};
          absl::StatusOr<AdmissionResult> admitted = AdmitInTransaction(tx, request, decide);
          if (!admitted.ok()) return admitted.status();
          if (admitted->decision.admit) {
            result.adopted.emplace_back(item->session_key, admitted->session_id);
            tx.exec_prepared("reconcile.carry_counters", node_id, item->session_key,
                             admitted->session_id);
            counters.push_back({.node_id = node_id,
                                .session_id = admitted->session_id,
                                .session_key = "",
                                .sample = item->usage});
            for (const Eviction& eviction : admitted->evictions) {
              result.kills.push_back(
                  QueuedCommand{.command_id = eviction.command_id, .node_id = eviction.node_id});
            }
            continue;
          }
          const std::string reason =
              absl::StrCat("refused on reconnect: ", admitted->decision.message);
          pqxx::result kill =
              admitted->unknown_user
                  ? tx.exec_prepared("reconcile.refuse_key", node_id, item->session_key, reason)
                  : tx.exec_prepared("reconcile.refuse", admitted->user_id, node_id,
                                     std::string(ProtocolName(item->protocol)), item->session_key,
                                     item->device_label, item->client_address, reason,
                                     "session.refuse", node_name);
          AppendKills(kill, result.kills);
        }
        ApplyUsageInTransaction(tx, counters);
        return result;
      });
  if (reconciled.ok()) {
    WakeSettledKills(db_, settled_kills);
    // Evictions of sessions adopted here may be on other nodes.
    std::vector<std::string> nodes;
    for (const QueuedCommand& kill : reconciled->kills) nodes.push_back(kill.node_id);
    WakeNodes(db_, nodes);
  }
  return reconciled;
}

absl::StatusOr<int64_t> AttachStore::AnnounceOfflineNodes(absl::Duration silent_for) {
  return db_.Transact(
      {.operation = "announce offline nodes"}, [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
        return tx.exec_prepared1("nodes.announce_offline", absl::ToInt64Microseconds(silent_for))[0]
            .as<int64_t>();
      });
}

absl::Status AttachStore::TouchNodes(std::span<const std::string> node_ids) {
  if (node_ids.empty()) return absl::OkStatus();
  const std::string ids = absl::StrCat("{", absl::StrJoin(node_ids, ","), "}");
  return db_.Autocommit({.operation = "record heartbeats", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::Status {
                          tx.exec_prepared("nodes.touch", ids);
                          return absl::OkStatus();
                        });
}

absl::Status AttachStore::RecordOpened(const std::string& node_id, const std::string& session_id,
                                       const std::string& session_key,
                                       const std::string& tunnel_address) {
  return db_.Autocommit(
      {.operation = "record opened session"}, [&](pqxx::nontransaction& tx) -> absl::Status {
        tx.exec_prepared("sessions.opened", node_id, session_id, session_key, tunnel_address);
        return absl::OkStatus();
      });
}

}  // namespace warden::control::store
