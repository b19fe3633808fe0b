#include "controlplane/store/node_store.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/limit_columns.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

#define WARDEN_NODE_COLUMNS                                                            \
  "n.id::text, n.name, array_to_string(n.protocols, ','), n.state, n.attach_epoch, "   \
  "epoch_us(n.last_seen_at), epoch_us(n.created_at), "                                 \
  "(SELECT count(*) FROM sessions s WHERE s.node_id = n.id AND s.state <> 'closed'), " \
  "n.trusted_authenticator, n.labels::text"

constexpr Statement kStatements[] = {
    {"nodes.insert",
     "WITH n AS (INSERT INTO nodes (name, protocols, credential_hash, trusted_authenticator) "
     "VALUES ($1, string_to_array($2, ',')::text[], decode($3, 'hex'), $4) RETURNING *) "
     "SELECT " WARDEN_NODE_COLUMNS " FROM n"},
    // $2/$3/$6: whether to set protocols / trust / labels, $4/$5/$7 their values.
    {"nodes.update",
     "UPDATE nodes SET protocols = CASE WHEN $2 THEN string_to_array($4, ',')::text[] "
     "  ELSE protocols END, "
     "trusted_authenticator = CASE WHEN $3 THEN $5 ELSE trusted_authenticator END, "
     "labels = CASE WHEN $6 THEN $7::jsonb ELSE labels END, "
     "updated_at = now() WHERE id = $1::uuid AND state <> 'removed' RETURNING id"},
    {"nodes.by_id", "SELECT " WARDEN_NODE_COLUMNS " FROM nodes n WHERE n.id = $1::uuid"},
    {"nodes.by_name",
     "SELECT " WARDEN_NODE_COLUMNS " FROM nodes n WHERE n.name = $1 AND n.state <> 'removed'"},
    {"nodes.list", "SELECT " WARDEN_NODE_COLUMNS " FROM nodes n WHERE $1 OR n.state <> 'removed' "
                   "ORDER BY n.name, n.created_at"},
    {"nodes.lock", "SELECT state FROM nodes WHERE id = $1::uuid FOR UPDATE"},
    {"nodes.close_sessions",
     "UPDATE sessions SET state = 'closed', closed_at = now(), close_reason = 'node removed', "
     "end_reason = 'node_removed' "
     "WHERE node_id = $1::uuid AND state <> 'closed' RETURNING id"},
    {"nodes.count_live",
     "SELECT count(*) FROM sessions WHERE node_id = $1::uuid AND state <> 'closed'"},
    {"nodes.remove",
     "UPDATE nodes SET state = 'removed', credential_hash = NULL, updated_at = now() "
     "WHERE id = $1::uuid"},
    {"nodes.by_credential",
     "SELECT id::text, name, state, encode(credential_hash, 'hex') FROM nodes "
     "WHERE credential_hash = decode($1, 'hex') AND state <> 'removed'"},
};

#undef WARDEN_NODE_COLUMNS

model::NodeState StateFromName(const std::string& name) {
  if (name == "draining") return model::NodeState::kDraining;
  if (name == "removed") return model::NodeState::kRemoved;
  return model::NodeState::kActive;
}

model::Node NodeFromRow(const pqxx::row& row) {
  model::Node node;
  node.id = row[0].as<std::string>();
  node.name = row[1].as<std::string>();
  node.state = StateFromName(row[3].as<std::string>());
  node.attach_epoch = row[4].as<int64_t>();
  node.last_seen_at = OptionalTimeField(row[5]);
  node.created_at = TimeField(row[6]);
  node.live_sessions = row[7].as<int64_t>();
  node.trusted_authenticator = row[8].as<bool>();
  node.labels = NodeLabelsFromJson(row[9].c_str());
  for (absl::string_view name : absl::StrSplit(row[2].as<std::string>(), ',', absl::SkipEmpty())) {
    if (auto protocol = ProtocolFromName(name)) node.protocols.push_back(*protocol);
  }
  return node;
}

std::string ProtocolList(const std::vector<model::Protocol>& protocols) {
  std::vector<std::string> names;
  for (model::Protocol protocol : protocols) names.emplace_back(ProtocolName(protocol));
  return absl::StrJoin(names, ",");
}

absl::Status NodeNotFound(absl::string_view key) {
  return absl::NotFoundError(absl::StrCat("node ", key, " not found"));
}

}  // namespace

std::span<const Statement> NodeStatements() { return kStatements; }

absl::string_view ProtocolName(model::Protocol protocol) {
  switch (protocol) {
    case model::Protocol::kWireGuard:
      return "wireguard";
    case model::Protocol::kOpenVpn:
      return "openvpn";
    case model::Protocol::kQuic:
      return "quic";
  }
  return "";
}

std::optional<model::Protocol> ProtocolFromName(absl::string_view name) {
  if (name == "wireguard") return model::Protocol::kWireGuard;
  if (name == "openvpn") return model::Protocol::kOpenVpn;
  if (name == "quic") return model::Protocol::kQuic;
  return std::nullopt;
}

absl::string_view NodeStateName(model::NodeState state) {
  switch (state) {
    case model::NodeState::kActive:
      return "active";
    case model::NodeState::kDraining:
      return "draining";
    case model::NodeState::kRemoved:
      return "removed";
  }
  return "";
}

absl::StatusOr<model::Node> NodeStore::Create(const model::Actor& actor, const std::string& name,
                                              const std::vector<model::Protocol>& protocols,
                                              bool trusted_authenticator,
                                              const std::string& credential_hash_hex) {
  const std::string conflict = absl::StrCat("a node named \"", name, "\" already exists");
  return db_.Transact({.operation = "create node", .on_conflict = conflict},
                      [&](pqxx::work& tx) -> absl::StatusOr<model::Node> {
                        model::Node node = NodeFromRow(
                            tx.exec_prepared1("nodes.insert", name, ProtocolList(protocols),
                                              credential_hash_hex, trusted_authenticator));
                        AppendAudit(tx, actor, "node.create", absl::StrCat("node:", node.id),
                                    {{"name", name},
                                     {"protocols", ProtocolList(protocols)},
                                     {"trusted_authenticator", trusted_authenticator}});
                        return node;
                      });
}

absl::StatusOr<model::Node> NodeStore::Update(const model::Actor& actor, const std::string& id,
                                              const NodeChanges& changes) {
  return db_.Transact(
      {.operation = "update node"}, [&](pqxx::work& tx) -> absl::StatusOr<model::Node> {
        const std::string protocols = changes.protocols ? ProtocolList(*changes.protocols) : "";
        const std::string labels = changes.labels ? NodeLabelsJson(*changes.labels) : "{}";
        if (tx.exec_prepared("nodes.update", id, changes.protocols.has_value(),
                             changes.trusted_authenticator.has_value(), protocols,
                             changes.trusted_authenticator.value_or(false),
                             changes.labels.has_value(), labels)
                .empty()) {
          return NodeNotFound(id);
        }
        nlohmann::json details = nlohmann::json::object();
        if (changes.protocols) details["protocols"] = protocols;
        if (changes.trusted_authenticator) {
          details["trusted_authenticator"] = *changes.trusted_authenticator;
        }
        if (changes.labels) details["labels"] = nlohmann::json::parse(labels);
        AppendAudit(tx, actor, "node.update", absl::StrCat("node:", id), details);
        return NodeFromRow(tx.exec_prepared1("nodes.by_id", id));
      });
}

absl::StatusOr<model::Node> NodeStore::GetById(const std::string& id) {
  return db_.Autocommit({.operation = "get node", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::Node> {
                          pqxx::result rows = tx.exec_prepared("nodes.by_id", id);
                          if (rows.empty()) return NodeNotFound(id);
                          return NodeFromRow(rows[0]);
                        });
}

absl::StatusOr<model::Node> NodeStore::GetByName(const std::string& name) {
  return db_.Autocommit({.operation = "get node", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<model::Node> {
                          pqxx::result rows = tx.exec_prepared("nodes.by_name", name);
                          if (rows.empty()) return NodeNotFound(absl::StrCat("\"", name, "\""));
                          return NodeFromRow(rows[0]);
                        });
}

absl::StatusOr<std::vector<model::Node>> NodeStore::List(bool include_removed) {
  return db_.Autocommit({.operation = "list nodes", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<model::Node>> {
                          std::vector<model::Node> nodes;
                          for (const auto& row : tx.exec_prepared("nodes.list", include_removed)) {
                            nodes.push_back(NodeFromRow(row));
                          }
                          return nodes;
                        });
}

absl::StatusOr<model::Node> NodeStore::Remove(const model::Actor& actor, const std::string& id,
                                              bool close_sessions) {
  return db_.Transact(
      {.operation = "remove node"}, [&](pqxx::work& tx) -> absl::StatusOr<model::Node> {
        pqxx::result locked = tx.exec_prepared("nodes.lock", id);
        if (locked.empty() || locked[0][0].as<std::string>() == "removed") return NodeNotFound(id);
        int64_t closed = 0;
        if (close_sessions) {
          closed = static_cast<int64_t>(tx.exec_prepared("nodes.close_sessions", id).size());
        } else if (const int64_t live = tx.exec_prepared1("nodes.count_live", id)[0].as<int64_t>();
                   live > 0) {
          return absl::FailedPreconditionError(
              absl::StrCat("node carries ", live,
                           " live sessions; drain it first, or remove it with close_sessions"));
        }
        tx.exec_prepared("nodes.remove", id);
        AppendAudit(tx, actor, "node.remove", absl::StrCat("node:", id),
                    {{"closed_sessions", closed}});
        return NodeFromRow(tx.exec_prepared1("nodes.by_id", id));
      });
}

absl::StatusOr<std::optional<NodeIdentity>> NodeStore::FindByCredential(
    const std::string& credential_hash_hex) {
  return db_.Autocommit(
      {.operation = "check node credential", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<NodeIdentity>> {
        pqxx::result rows = tx.exec_prepared("nodes.by_credential", credential_hash_hex);
        if (rows.empty()) return std::nullopt;
        return NodeIdentity{.id = rows[0][0].as<std::string>(),
                            .name = rows[0][1].as<std::string>(),
                            .state = StateFromName(rows[0][2].as<std::string>()),
                            .credential_hash_hex = rows[0][3].as<std::string>()};
      });
}

}  // namespace warden::control::store
