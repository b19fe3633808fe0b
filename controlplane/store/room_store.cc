#include "controlplane/store/room_store.h"

#include "absl/strings/str_cat.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/internal/in_transaction.h"
#include "controlplane/store/rows.h"
#include "controlplane/store/statements.h"

namespace warden::control::store {
namespace {

// The columns MemberFrom reads, in its order.
#define WARDEN_MEMBER_COLUMNS "member_key, replica, connection_id, epoch_us(joined_at)"

constexpr Statement kStatements[] = {
    {"rooms.insert",
     "INSERT INTO signal_rooms (name, password_hash, max_clients, owner_key, created_by, "
     "expires_at) VALUES ($1, NULLIF($2, ''), $3::int, $4, $5, "
     "now() + $6::float8 * interval '1 second') RETURNING id::text, epoch_us(expires_at)"},
    {"rooms.password",
     "SELECT coalesce(password_hash, '') FROM signal_rooms "
     "WHERE id = $1::uuid AND expires_at > now()"},
    {"rooms.lock_live",
     "SELECT name, password_hash IS NOT NULL, max_clients, owner_key, epoch_us(expires_at) "
     "FROM signal_rooms WHERE id = $1::uuid AND expires_at > now() FOR UPDATE"},
    {"rooms.lock_any", "SELECT version FROM signal_rooms WHERE id = $1::uuid FOR UPDATE"},
    {"rooms.bump",
     "UPDATE signal_rooms SET version = version + $2::int WHERE id = $1::uuid RETURNING version"},
    {"rooms.occupied", "UPDATE signal_rooms SET empty_since = NULL WHERE id = $1::uuid"},
    {"rooms.empty_if_vacant",
     "UPDATE signal_rooms SET empty_since = now() WHERE id = $1::uuid AND empty_since IS NULL "
     "AND NOT EXISTS (SELECT 1 FROM signal_members WHERE room_id = $1::uuid)"},
    {"rooms.rename", "UPDATE signal_rooms SET name = $2 WHERE id = $1::uuid"},
    {"rooms.close_due",
     "DELETE FROM signal_rooms WHERE expires_at <= now() "
     "OR empty_since <= now() - $1::float8 * interval '1 second' "
     "RETURNING id::text, CASE WHEN expires_at <= now() THEN 'expired' ELSE 'empty' END, "
     "version + 1"},
    {"members.list",
     "SELECT " WARDEN_MEMBER_COLUMNS
     " FROM signal_members WHERE room_id = $1::uuid ORDER BY joined_at, member_key"},
    {"members.find", "SELECT " WARDEN_MEMBER_COLUMNS
                     " FROM signal_members WHERE room_id = $1::uuid AND member_key = $2"},
    {"members.count_others",
     "SELECT count(*) FROM signal_members WHERE room_id = $1::uuid AND member_key <> $2"},
    {"members.upsert",
     "INSERT INTO signal_members (room_id, member_key, replica, connection_id) "
     "VALUES ($1::uuid, $2, $3, $4) ON CONFLICT (room_id, member_key) DO UPDATE "
     "SET replica = EXCLUDED.replica, connection_id = EXCLUDED.connection_id, "
     "joined_at = now() RETURNING " WARDEN_MEMBER_COLUMNS},
    {"members.remove",
     "DELETE FROM signal_members WHERE room_id = $1::uuid AND member_key = $2 "
     "AND ($3 = '' OR connection_id = $3) RETURNING " WARDEN_MEMBER_COLUMNS},
    // Rooms (in a fixed order) with members held through a connection, a
    // replica, or replicas whose heartbeat stopped.
    {"members.rooms_of_connection",
     "SELECT DISTINCT room_id::text FROM signal_members WHERE connection_id = $1 ORDER BY 1"},
    {"members.remove_connection",
     "DELETE FROM signal_members WHERE room_id = $1::uuid AND connection_id = $2 "
     "RETURNING " WARDEN_MEMBER_COLUMNS},
    {"members.rooms_of_replica",
     "SELECT DISTINCT room_id::text FROM signal_members WHERE replica = $1 ORDER BY 1"},
    {"members.remove_replica",
     "DELETE FROM signal_members WHERE room_id = $1::uuid AND replica = $2 "
     "RETURNING " WARDEN_MEMBER_COLUMNS},
    {"members.rooms_of_lost_replicas",
     "SELECT DISTINCT m.room_id::text FROM signal_members m WHERE NOT EXISTS ("
     "SELECT 1 FROM signal_replicas r WHERE r.replica = m.replica "
     "AND r.last_seen_at > now() - $1::float8 * interval '1 second') ORDER BY 1"},
    {"members.remove_lost",
     "DELETE FROM signal_members m WHERE room_id = $1::uuid AND NOT EXISTS ("
     "SELECT 1 FROM signal_replicas r WHERE r.replica = m.replica "
     "AND r.last_seen_at > now() - $2::float8 * interval '1 second') "
     "RETURNING " WARDEN_MEMBER_COLUMNS},
    {"replicas.beat",
     "INSERT INTO signal_replicas (replica, relays_per_second) VALUES ($1, $2::float8) "
     "ON CONFLICT (replica) DO UPDATE SET last_seen_at = now(), "
     "relays_per_second = EXCLUDED.relays_per_second"},
    // Rows of replicas gone for a day; their members went long before.
    {"replicas.prune", "DELETE FROM signal_replicas WHERE last_seen_at < now() - interval '1 day'"},
    {"replicas.forget", "DELETE FROM signal_replicas WHERE replica = $1"},
    {"signal.stats",
     "SELECT (SELECT count(*) FROM signal_rooms WHERE expires_at > now()), "
     "(SELECT count(*) FROM signal_members), "
     "(SELECT coalesce(sum(relays_per_second), 0) FROM signal_replicas "
     "WHERE last_seen_at > now() - $1::float8 * interval '1 second')"},
    {"signal.notify", "SELECT pg_notify('warden_signal', $1)"},
};

RoomMemberRecord MemberFrom(const pqxx::row& row) {
  return RoomMemberRecord{.key_hex = row[0].as<std::string>(),
                          .replica = row[1].as<std::string>(),
                          .connection_id = row[2].as<std::string>(),
                          .joined_at = TimeField(row[3])};
}

std::vector<RoomMemberRecord> ListMembers(pqxx::work& tx, const std::string& room_id) {
  std::vector<RoomMemberRecord> members;
  for (const pqxx::row& row : tx.exec_prepared("members.list", room_id)) {
    members.push_back(MemberFrom(row));
  }
  return members;
}

// Gives the room's new changes their versions, then publishes them.
void StampAndPublish(pqxx::work& tx, const std::string& room_id, std::vector<RoomChange>& changes,
                     EncodeChanges encode) {
  if (changes.empty()) return;
  const int64_t last =
      tx.exec_prepared1("rooms.bump", room_id, static_cast<int>(changes.size()))[0].as<int64_t>();
  int64_t version = last - static_cast<int64_t>(changes.size());
  for (RoomChange& change : changes) change.version = ++version;
  for (const std::string& payload : encode(changes)) tx.exec_prepared("signal.notify", payload);
}

void PublishChanges(pqxx::work& tx, std::span<const RoomChange> changes, EncodeChanges encode) {
  if (changes.empty()) return;
  for (const std::string& payload : encode(changes)) tx.exec_prepared("signal.notify", payload);
}

absl::Status RoomNotFound(const std::string& room_id) {
  return absl::NotFoundError(absl::StrCat("room ", room_id, " does not exist (or has expired)"));
}

// Locks a live room for a change only its owner may make (`what`).
absl::Status LockAsOwner(pqxx::work& tx, const std::string& room_id, const std::string& owner_hex,
                         absl::string_view what) {
  const pqxx::result locked = tx.exec_prepared("rooms.lock_live", room_id);
  if (locked.empty()) return RoomNotFound(room_id);
  if (locked[0][3].as<std::string>() != owner_hex) {
    return absl::PermissionDeniedError(absl::StrCat("only the room's owner may ", what));
  }
  return absl::OkStatus();
}

double Seconds(absl::Duration duration) { return absl::ToDoubleSeconds(duration); }

#undef WARDEN_MEMBER_COLUMNS

}  // namespace

std::span<const Statement> RoomStatements() { return kStatements; }

absl::StatusOr<RoomUpdate> RoomStore::Create(const NewRoom& room, const std::string& connection_id,
                                             EncodeChanges encode) {
  return db_.Transact(
      {.operation = "create room"}, [&](pqxx::work& tx) -> absl::StatusOr<RoomUpdate> {
        const pqxx::row created =
            tx.exec_prepared1("rooms.insert", room.name, room.password_hash, room.max_clients,
                              room.owner_hex, room.created_by, Seconds(room.ttl));
        RoomUpdate update{.room = RoomRecord{.id = created[0].as<std::string>(),
                                             .name = room.name,
                                             .owner_hex = room.owner_hex,
                                             .max_clients = room.max_clients,
                                             .has_password = !room.password_hash.empty(),
                                             .expires_at = TimeField(created[1])}};
        const pqxx::row owner = tx.exec_prepared1("members.upsert", update.room.id, room.owner_hex,
                                                  replica_, connection_id);
        update.room.members.push_back(MemberFrom(owner));
        AppendAudit(tx, model::Actor{room.created_by}, "room.create",
                    absl::StrCat("room:", update.room.id),
                    {{"name", room.name},
                     {"max_clients", room.max_clients},
                     {"password", !room.password_hash.empty()},
                     {"ttl_seconds", absl::ToInt64Seconds(room.ttl)},
                     {"owner_key", room.owner_hex}});
        update.changes.push_back(RoomChange{.kind = RoomChangeKind::kJoined,
                                            .room_id = update.room.id,
                                            .member = update.room.members.front()});
        StampAndPublish(tx, update.room.id, update.changes, encode);
        update.room.version = update.changes.back().version;
        return update;
      });
}

absl::StatusOr<std::string> RoomStore::PasswordHash(const std::string& room_id) {
  return db_.Autocommit({.operation = "look up room", .idempotent = true},
                        [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::string> {
                          const pqxx::result found = tx.exec_prepared("rooms.password", room_id);
                          if (found.empty()) return RoomNotFound(room_id);
                          return found[0][0].as<std::string>();
                        });
}

absl::StatusOr<RoomUpdate> RoomStore::Join(const std::string& room_id,
                                           const std::string& member_hex,
                                           const std::string& connection_id, EncodeChanges encode) {
  return db_.Transact(
      {.operation = "join room"}, [&](pqxx::work& tx) -> absl::StatusOr<RoomUpdate> {
        const pqxx::result locked = tx.exec_prepared("rooms.lock_live", room_id);
        if (locked.empty()) return RoomNotFound(room_id);
        const pqxx::row& row = locked[0];
        RoomUpdate update{.room = RoomRecord{.id = room_id,
                                             .name = row[0].as<std::string>(),
                                             .owner_hex = row[3].as<std::string>(),
                                             .max_clients = row[2].as<int>(),
                                             .has_password = row[1].as<bool>(),
                                             .expires_at = TimeField(row[4])}};
        const int64_t others =
            tx.exec_prepared1("members.count_others", room_id, member_hex)[0].as<int64_t>();
        if (others >= update.room.max_clients) {
          return absl::ResourceExhaustedError(
              absl::StrCat("room ", room_id, " is full (", update.room.max_clients, " members)"));
        }
        const pqxx::result previous = tx.exec_prepared("members.find", room_id, member_hex);
        if (!previous.empty()) {
          RoomMemberRecord old = MemberFrom(previous[0]);
          if (old.connection_id == connection_id) {
            return absl::AlreadyExistsError(
                absl::StrCat("this stream is already in room ", room_id));
          }
          update.changes.push_back(RoomChange{.kind = RoomChangeKind::kLeft,
                                              .room_id = room_id,
                                              .member = std::move(old),
                                              .text = "rejoined elsewhere"});
        }
        const pqxx::row joined =
            tx.exec_prepared1("members.upsert", room_id, member_hex, replica_, connection_id);
        tx.exec_prepared("rooms.occupied", room_id);
        update.changes.push_back(RoomChange{
            .kind = RoomChangeKind::kJoined, .room_id = room_id, .member = MemberFrom(joined)});
        update.room.members = ListMembers(tx, room_id);
        StampAndPublish(tx, room_id, update.changes, encode);
        update.room.version = update.changes.back().version;
        return update;
      });
}

absl::StatusOr<std::vector<RoomChange>> RoomStore::Leave(const std::string& room_id,
                                                         const std::string& member_hex,
                                                         const std::string& connection_id,
                                                         EncodeChanges encode) {
  return db_.Transact(
      {.operation = "leave room"}, [&](pqxx::work& tx) -> absl::StatusOr<std::vector<RoomChange>> {
        if (tx.exec_prepared("rooms.lock_any", room_id).empty()) return RoomNotFound(room_id);
        const pqxx::result removed =
            tx.exec_prepared("members.remove", room_id, member_hex, connection_id);
        if (removed.empty()) {
          return absl::NotFoundError(absl::StrCat("this stream is not in room ", room_id));
        }
        tx.exec_prepared("rooms.empty_if_vacant", room_id);
        std::vector<RoomChange> changes{RoomChange{.kind = RoomChangeKind::kLeft,
                                                   .room_id = room_id,
                                                   .member = MemberFrom(removed[0]),
                                                   .text = "left"}};
        StampAndPublish(tx, room_id, changes, encode);
        return changes;
      });
}

absl::StatusOr<std::vector<RoomChange>> RoomStore::Rename(const std::string& room_id,
                                                          const std::string& owner_hex,
                                                          const std::string& name,
                                                          EncodeChanges encode) {
  return db_.Transact(
      {.operation = "rename room"}, [&](pqxx::work& tx) -> absl::StatusOr<std::vector<RoomChange>> {
        if (absl::Status owned = LockAsOwner(tx, room_id, owner_hex, "rename it"); !owned.ok()) {
          return owned;
        }
        tx.exec_prepared("rooms.rename", room_id, name);
        std::vector<RoomChange> changes{
            RoomChange{.kind = RoomChangeKind::kRenamed, .room_id = room_id, .text = name}};
        StampAndPublish(tx, room_id, changes, encode);
        return changes;
      });
}

absl::StatusOr<std::vector<RoomChange>> RoomStore::Kick(const std::string& room_id,
                                                        const std::string& owner_hex,
                                                        const std::string& member_hex,
                                                        EncodeChanges encode) {
  return db_.Transact(
      {.operation = "kick member"}, [&](pqxx::work& tx) -> absl::StatusOr<std::vector<RoomChange>> {
        if (absl::Status owned = LockAsOwner(tx, room_id, owner_hex, "kick members"); !owned.ok()) {
          return owned;
        }
        if (member_hex == owner_hex) {
          return absl::InvalidArgumentError("the owner cannot kick itself; leave the room instead");
        }
        const pqxx::result removed =
            tx.exec_prepared("members.remove", room_id, member_hex, std::string());
        if (removed.empty()) {
          return absl::NotFoundError("that key is not a member of the room");
        }
        tx.exec_prepared("rooms.empty_if_vacant", room_id);
        AppendAudit(tx, model::Actor{absl::StrCat("key:", owner_hex)}, "room.kick",
                    absl::StrCat("room:", room_id), {{"member_key", member_hex}});
        std::vector<RoomChange> changes{RoomChange{
            .kind = RoomChangeKind::kKicked, .room_id = room_id, .member = MemberFrom(removed[0])}};
        StampAndPublish(tx, room_id, changes, encode);
        return changes;
      });
}

absl::StatusOr<std::vector<RoomChange>> RoomStore::RemoveWhere(const std::string& rooms_statement,
                                                               const std::string& argument,
                                                               const std::string& remove_statement,
                                                               const std::string& reason,
                                                               EncodeChanges encode) {
  absl::StatusOr<std::vector<std::string>> rooms =
      db_.Autocommit({.operation = "find memberships", .idempotent = true},
                     [&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<std::string>> {
                       std::vector<std::string> ids;
                       for (const pqxx::row& row : tx.exec_prepared(rooms_statement, argument)) {
                         ids.push_back(row[0].as<std::string>());
                       }
                       return ids;
                     });
  if (!rooms.ok()) return rooms.status();
  // One short transaction per room: no transaction holds two room locks, so
  // these never deadlock with joins or with each other.
  std::vector<RoomChange> all;
  for (const std::string& room_id : *rooms) {
    absl::Status removed =
        db_.Transact({.operation = "remove memberships"}, [&](pqxx::work& tx) -> absl::Status {
          if (tx.exec_prepared("rooms.lock_any", room_id).empty()) return absl::OkStatus();
          std::vector<RoomChange> changes;
          for (const pqxx::row& row : tx.exec_prepared(remove_statement, room_id, argument)) {
            changes.push_back(RoomChange{.kind = RoomChangeKind::kLeft,
                                         .room_id = room_id,
                                         .member = MemberFrom(row),
                                         .text = reason});
          }
          tx.exec_prepared("rooms.empty_if_vacant", room_id);
          StampAndPublish(tx, room_id, changes, encode);
          all.insert(all.end(), changes.begin(), changes.end());
          return absl::OkStatus();
        });
    if (!removed.ok()) return removed;
  }
  return all;
}

absl::StatusOr<std::vector<RoomChange>> RoomStore::LeaveConnection(const std::string& connection_id,
                                                                   const std::string& reason,
                                                                   EncodeChanges encode) {
  return RemoveWhere("members.rooms_of_connection", connection_id, "members.remove_connection",
                     reason, encode);
}

absl::StatusOr<std::vector<RoomChange>> RoomStore::LeaveReplica(EncodeChanges encode) {
  return RemoveWhere("members.rooms_of_replica", replica_, "members.remove_replica", "disconnected",
                     encode);
}

absl::StatusOr<std::vector<RoomChange>> RoomStore::Sweep(absl::Duration empty_grace,
                                                         absl::Duration replica_timeout,
                                                         double relays_per_second,
                                                         EncodeChanges encode) {
  absl::Status beat = db_.Autocommit(
      {.operation = "signal heartbeat"}, [&](pqxx::nontransaction& tx) -> absl::Status {
        tx.exec_prepared("replicas.beat", replica_, relays_per_second);
        return absl::OkStatus();
      });
  if (!beat.ok()) return beat;
  absl::StatusOr<std::vector<RoomChange>> changes =
      RemoveWhere("members.rooms_of_lost_replicas", absl::StrCat(Seconds(replica_timeout)),
                  "members.remove_lost", "replica lost", encode);
  if (!changes.ok()) return changes;
  absl::Status closed =
      db_.Transact({.operation = "close rooms"}, [&](pqxx::work& tx) -> absl::Status {
        std::vector<RoomChange> closing;
        for (const pqxx::row& row : tx.exec_prepared("rooms.close_due", Seconds(empty_grace))) {
          closing.push_back(RoomChange{.kind = RoomChangeKind::kClosed,
                                       .room_id = row[0].as<std::string>(),
                                       .text = row[1].as<std::string>(),
                                       .version = row[2].as<int64_t>()});
        }
        tx.exec_prepared("replicas.prune");
        PublishChanges(tx, closing, encode);
        changes->insert(changes->end(), closing.begin(), closing.end());
        return absl::OkStatus();
      });
  if (!closed.ok()) return closed;
  return changes;
}

absl::StatusOr<RoomRecord> RoomStore::Members(const std::string& room_id) {
  return db_.Transact({.operation = "list room members"},
                      [&](pqxx::work& tx) -> absl::StatusOr<RoomRecord> {
                        const pqxx::result locked = tx.exec_prepared("rooms.lock_any", room_id);
                        if (locked.empty()) return RoomNotFound(room_id);
                        return RoomRecord{.id = room_id,
                                          .version = locked[0][0].as<int64_t>(),
                                          .members = ListMembers(tx, room_id)};
                      });
}

absl::Status RoomStore::Publish(const std::string& payload) {
  return db_.Autocommit({.operation = "relay"}, [&](pqxx::nontransaction& tx) -> absl::Status {
    tx.exec_prepared("signal.notify", payload);
    return absl::OkStatus();
  });
}

absl::StatusOr<SignalStats> RoomStore::Stats(absl::Duration replica_timeout) {
  return db_.Autocommit(
      {.operation = "count rooms", .idempotent = true},
      [&](pqxx::nontransaction& tx) -> absl::StatusOr<SignalStats> {
        const pqxx::row row = tx.exec_prepared1("signal.stats", Seconds(replica_timeout));
        return SignalStats{.rooms = row[0].as<int64_t>(),
                           .members = row[1].as<int64_t>(),
                           .relays_per_second = row[2].as<double>()};
      });
}

absl::Status RoomStore::Forget() {
  return db_.Autocommit({.operation = "forget replica"},
                        [&](pqxx::nontransaction& tx) -> absl::Status {
                          tx.exec_prepared("replicas.forget", replica_);
                          return absl::OkStatus();
                        });
}

}  // namespace warden::control::store
