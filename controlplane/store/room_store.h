#pragma once

// Signalling rooms and their members in PostgreSQL. Every change to a room's
// members locks the room's row first, so capacity is exact whichever replica
// the joins arrive on. Each change is also published on the channel
// `warden_signal` inside its own transaction: replicas hear of changes in
// commit order, and only of changes that committed.

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::control::store {

class Database;

inline constexpr char kSignalChannel[] = "warden_signal";

struct RoomMemberRecord {
  std::string key_hex;  // Ed25519 public key, 64 lowercase hex digits
  std::string replica;
  std::string connection_id;
  absl::Time joined_at;
};

struct RoomRecord {
  std::string id;
  std::string name{};
  std::string owner_hex{};
  int max_clients = 0;
  bool has_password = false;
  absl::Time expires_at{};
  int64_t version = 0;                      // one more for every change of members or name
  std::vector<RoomMemberRecord> members{};  // oldest first
};

struct NewRoom {
  std::string name;
  std::string password_hash;  // "" = no password
  int max_clients = 0;
  absl::Duration ttl;
  std::string owner_hex;
  std::string created_by;  // "user:<name>" or "key:<name>"
};

enum class RoomChangeKind { kJoined, kLeft, kRenamed, kKicked, kClosed };

// One committed change, as every replica learns of it.
struct RoomChange {
  RoomChangeKind kind;
  std::string room_id;
  // kJoined, kLeft, kKicked: the member, with where it is (joined) or was
  // attached (left, kicked).
  RoomMemberRecord member{};
  std::string text{};   // kLeft, kClosed: the reason; kRenamed: the new name
  int64_t version = 0;  // the room's version once this change is made
};

// Turns changes into NOTIFY payloads (each at most 7999 bytes).
using EncodeChanges = absl::FunctionRef<std::vector<std::string>(std::span<const RoomChange>)>;

struct RoomUpdate {
  RoomRecord room;  // after the change
  std::vector<RoomChange> changes{};
};

struct SignalStats {
  int64_t rooms = 0;
  int64_t members = 0;
  double relays_per_second = 0;  // summed over live replicas
};

class RoomStore {
 public:
  // `replica` names this process in signal_members and signal_replicas.
  RoomStore(Database& db, std::string replica) : db_(db), replica_(std::move(replica)) {}

  // The room with its owner as first member (attached through `connection_id`).
  absl::StatusOr<RoomUpdate> Create(const NewRoom& room, const std::string& connection_id,
                                    EncodeChanges encode);

  // The room's password hash ("" when it has none); NOT_FOUND when the room
  // does not exist or has expired.
  absl::StatusOr<std::string> PasswordHash(const std::string& room_id);

  // Adds the member, or moves it to `connection_id` when it is already in
  // the room (a left change for the old stream, then a joined change).
  // NOT_FOUND, or RESOURCE_EXHAUSTED when the room is full.
  absl::StatusOr<RoomUpdate> Join(const std::string& room_id, const std::string& member_hex,
                                  const std::string& connection_id, EncodeChanges encode);

  // NOT_FOUND unless the member is in the room through `connection_id`.
  absl::StatusOr<std::vector<RoomChange>> Leave(const std::string& room_id,
                                                const std::string& member_hex,
                                                const std::string& connection_id,
                                                EncodeChanges encode);

  // Owner only: PERMISSION_DENIED for anyone else, NOT_FOUND.
  absl::StatusOr<std::vector<RoomChange>> Rename(const std::string& room_id,
                                                 const std::string& owner_hex,
                                                 const std::string& name, EncodeChanges encode);
  absl::StatusOr<std::vector<RoomChange>> Kick(const std::string& room_id,
                                               const std::string& owner_hex,
                                               const std::string& member_hex, EncodeChanges encode);

  // Every membership held through `connection_id` (a stream that ended).
  absl::StatusOr<std::vector<RoomChange>> LeaveConnection(const std::string& connection_id,
                                                          const std::string& reason,
                                                          EncodeChanges encode);
  // Every membership held through this replica (it is stopping).
  absl::StatusOr<std::vector<RoomChange>> LeaveReplica(EncodeChanges encode);

  // The periodic sweep: records this replica's heartbeat (and relay rate),
  // removes members of replicas silent for `replica_timeout`, closes rooms
  // past their TTL or empty for `empty_grace`.
  absl::StatusOr<std::vector<RoomChange>> Sweep(absl::Duration empty_grace,
                                                absl::Duration replica_timeout,
                                                double relays_per_second, EncodeChanges encode);

  // The room's members and version; NOT_FOUND when it is gone.
  absl::StatusOr<RoomRecord> Members(const std::string& room_id);

  // NOTIFY outside any change (relays).
  absl::Status Publish(const std::string& payload);

  absl::StatusOr<SignalStats> Stats(absl::Duration replica_timeout);

  // Removes this replica's heartbeat row (a clean stop).
  absl::Status Forget();

  const std::string& replica() const { return replica_; }

 private:
  absl::StatusOr<std::vector<RoomChange>> RemoveWhere(const std::string& rooms_statement,
                                                      const std::string& argument,
                                                      const std::string& remove_statement,
                                                      const std::string& reason,
                                                      EncodeChanges encode);

  Database& db_;
  const std::string replica_;
};

}  // namespace warden::control::store
