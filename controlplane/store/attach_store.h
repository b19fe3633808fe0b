#pragma once

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/model/device.h"
#include "controlplane/model/session.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/session_store.h"

namespace warden::control::store {

class Database;

struct Attachment {
  int64_t epoch = 0;
  std::string node_name;
  bool draining = false;
};

// A session an agent reports it carries.
struct InventoryItem {
  std::string session_id;  // empty when admitted while the link was down
  model::Protocol protocol = model::Protocol::kOpenVpn;
  std::string session_key;
  std::string username;
  std::string device_label;
  std::string client_address;
  std::optional<absl::Time> opened_at;
  model::UsageSample usage;
};

// A session that ended while the agent could not report it.
struct ClosedReport {
  std::string session_id;
  std::string session_key;
  std::string reason;
  model::UsageSample usage;  // the final counters
  // Set when the agent gave up on the Admit attempt with this id: only the
  // session that attempt created (or last confirmed) is closed.
  std::string abandoned_attempt;
};

struct ReconcileResult {
  std::vector<std::pair<std::string, std::string>> adopted;  // session key → session id
  int closed_as_lost = 0;
  // Inventory sessions of users the node could not have admitted.
  int not_admissible = 0;
  std::vector<QueuedCommand> kills;  // for inventory sessions the rules refuse
};

// The agent link's persistence: attach epochs (fencing), the reconcile of a
// node's inventory, and liveness.
class AttachStore {
 public:
  explicit AttachStore(Database& db) : db_(db) {}

  // A new epoch for the node; NOTIFY warden_attach, '<node id>:<epoch>' tells
  // every replica to drop older streams of this node. NOT_FOUND if removed.
  // Also records the drivers the agent runs (nodes.drivers) and its
  // WireGuard interfaces (nodes.wireguard_interfaces).
  absl::StatusOr<Attachment> Attach(const std::string& node_id, const std::string& replica,
                                    const std::string& agent_version,
                                    std::span<const std::string> drivers,
                                    std::span<const model::WireGuardInterface> wireguard = {});

  // One transaction: applies the reports of sessions closed while away,
  // closes live sessions the inventory lacks ("lost"), refreshes the ones it
  // has, and runs sessions unknown to the database through the admission
  // rules (adopted, or killed). An unknown session is admissible only where
  // the node could have admitted its user (a trusted authenticator, a
  // provisioned WireGuard device, a session of the user on this node live or
  // closed within `adopt_window`, or one closed as `node_lost`); the others
  // are killed as `not_admissible` without locking their users. ABORTED if a
  // newer attach took the node.
  absl::StatusOr<ReconcileResult> Reconcile(const std::string& node_id,
                                            const std::string& node_name, int64_t epoch,
                                            std::span<const InventoryItem> inventory,
                                            std::span<const ClosedReport> closed_while_away,
                                            absl::Duration adopt_window, Decider decide);

  absl::Status TouchNodes(std::span<const std::string> node_ids);
  // Nodes unheard for `silent_for` are announced offline (audited
  // node.offline, once); returns how many.
  absl::StatusOr<int64_t> AnnounceOfflineNodes(absl::Duration silent_for);
  // The node reports a connection up, with its address inside the tunnel.
  absl::Status RecordOpened(const std::string& node_id, const std::string& session_id,
                            const std::string& session_key, const std::string& tunnel_address);

 private:
  Database& db_;
};

}  // namespace warden::control::store
