#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/policy.h"
#include "controlplane/model/session.h"

namespace warden::control::store {

class Database;

absl::string_view ProtocolName(model::Protocol protocol);
std::optional<model::Protocol> ProtocolFromName(absl::string_view name);
absl::string_view NodeStateName(model::NodeState state);

// What a valid node credential proves.
struct NodeIdentity {
  std::string id;
  std::string name;
  model::NodeState state = model::NodeState::kActive;
  std::string credential_hash_hex;
};

// Fields an update sets; unset optionals are left as they are.
struct NodeChanges {
  std::optional<std::vector<model::Protocol>> protocols;  // empty: any
  std::optional<bool> trusted_authenticator;
  std::optional<model::NodeLabels> labels;  // replaces them all
};

class NodeStore {
 public:
  explicit NodeStore(Database& db) : db_(db) {}

  absl::StatusOr<model::Node> Create(const model::Actor& actor, const std::string& name,
                                     const std::vector<model::Protocol>& protocols,
                                     bool trusted_authenticator,
                                     const std::string& credential_hash_hex);
  // Audited; NOT_FOUND for an unknown or removed node.
  absl::StatusOr<model::Node> Update(const model::Actor& actor, const std::string& id,
                                     const NodeChanges& changes);
  absl::StatusOr<model::Node> GetById(const std::string& id);
  absl::StatusOr<model::Node> GetByName(const std::string& name);
  // Nodes that are not removed (or all, with include_removed), by name.
  absl::StatusOr<std::vector<model::Node>> List(bool include_removed);
  // FAILED_PRECONDITION while the node carries live sessions, unless
  // `close_sessions`, which closes them (reason "node removed").
  absl::StatusOr<model::Node> Remove(const model::Actor& actor, const std::string& id,
                                     bool close_sessions);
  // The node holding this credential, if it is not removed.
  absl::StatusOr<std::optional<NodeIdentity>> FindByCredential(
      const std::string& credential_hash_hex);

 private:
  Database& db_;
};

}  // namespace warden::control::store
