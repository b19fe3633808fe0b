#pragma once

#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/device.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/session_store.h"

namespace warden::control::store {

class Database;

// The tunnel addresses devices are given. IPv4: every host of the network
// except the network address, the first host (the server side's own) and
// the broadcast address. IPv6 (optional): the device with IPv4 host number
// n gets the n-th address of the IPv6 prefix.
struct AddressPool {
  std::string v4_cidr;     // "10.66.0.0/16"
  std::string v4_network;  // "10.66.0.0"
  std::string v4_first;    // "10.66.0.2"
  std::string v4_last;     // "10.66.255.254"
  std::string v6_cidr;     // "" = no IPv6 addresses
  std::string v6_base;     // "fd66::"
};

// Checks the pools as configured; errors are INVALID_ARGUMENT naming
// `v4_field` or `v6_field`. An empty `v6` means no IPv6 addresses.
absl::StatusOr<AddressPool> ParseAddressPool(absl::string_view v4_field, absl::string_view v4,
                                             absl::string_view v6_field, absl::string_view v6);

struct NewDevice {
  UserRef user;  // by id or by username
  std::string public_key;
  std::string label;
  std::optional<absl::Time> expires_at;  // the device's access ends then
  // The user may hold at most this many devices (not revoked), this one
  // included; 0 = no cap.
  int max_devices = 0;
};

struct RegisteredDevice {
  model::Device device;
  std::vector<QueuedCommand> commands;  // ADD_PEER, one per WireGuard node
};

struct RevokedDevice {
  std::vector<QueuedCommand> commands;  // REMOVE_PEER per node, and kills
  int sessions_killed = 0;
};

struct DeviceFilter {
  std::string user_id{};  // "" = every user
  // keyset: devices created after (created_at, id), oldest first
  std::optional<std::pair<absl::Time, std::string>> after{};
  int limit = 100;
};

// Registered WireGuard devices, their addresses, and the peer commands that
// keep every WireGuard node's peers in step with them.
class DeviceStore {
 public:
  DeviceStore(Database& db, AddressPool pool) : db_(db), pool_(std::move(pool)) {}

  // Allocates the lowest free addresses, inserts the device, queues ADD_PEER
  // for every WireGuard node that is not removed (with NOTIFY) and audits,
  // in one transaction. NOT_FOUND for an unknown user, ALREADY_EXISTS for a
  // key that is registered, RESOURCE_EXHAUSTED when the pool is full.
  absl::StatusOr<RegisteredDevice> Register(const model::Actor& actor, const NewDevice& device);
  absl::StatusOr<model::DevicePage> List(const DeviceFilter& filter);
  // Marks the device revoked (its key and addresses are free again), queues
  // REMOVE_PEER for every WireGuard node, kills its live sessions, audits.
  // NOT_FOUND when unknown or already revoked, or, with `owner_user_id`,
  // another user's.
  absl::StatusOr<RevokedDevice> Revoke(const model::Actor& actor, const std::string& id,
                                       const std::string& owner_user_id = "");

  // A device of `owner_user_id` that is not revoked; NOT_FOUND otherwise
  // (another user's device included).
  absl::StatusOr<model::Device> GetOwned(const std::string& owner_user_id, const std::string& id);
  // A new label for a device of `owner_user_id`, audited (device.rename);
  // NOT_FOUND as GetOwned.
  absl::StatusOr<model::Device> Rename(const model::Actor& actor, const std::string& owner_user_id,
                                       const std::string& id, const std::string& label);

  // The nodes the user's devices may reach: active nodes running the
  // WireGuard driver whose agent reported an interface key and endpoint,
  // that the node's protocols and the user's effective policy (protocols,
  // node selector) allow; by node name.
  absl::StatusOr<std::vector<model::NodePeer>> NodePeersFor(const std::string& user_id);

  // At attach: settles the node's pending peer commands (the full set
  // replaces them) and, for a node running the WireGuard driver, returns
  // every device of an enabled user that is not withheld from the node.
  absl::StatusOr<std::vector<model::WireGuardPeer>> PeersForAttach(const std::string& node_id,
                                                                   bool wireguard);

  // Withheld peers whose user is under the limit again (or whose node is no
  // longer withholding for a reason) are provisioned again: each row is
  // deleted and its ADD_PEER queued (with NOTIFY) in one statement, at most
  // `limit` rows; rows of revoked devices and removed nodes are dropped.
  // Safe with several replicas (rows are claimed with SKIP LOCKED).
  absl::StatusOr<std::vector<QueuedCommand>> ReprovisionWithheld(int limit);

  const AddressPool& pool() const { return pool_; }

 private:
  Database& db_;
  const AddressPool pool_;
};

// The peer in a command's or query's JSON ({"device_id", "public_key",
// "allowed_ips", "username"}); empty fields when absent.
model::WireGuardPeer PeerFromJson(absl::string_view json);

}  // namespace warden::control::store
