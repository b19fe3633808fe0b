// SignalHub: creating, joining, leaving, renaming and kicking — the room
// requests that go through the database (store::RoomStore), and a joiner's
// first view of its room.

#include "absl/strings/str_cat.h"
#include "controlplane/signal/hub.h"
#include "controlplane/signal/hub_stream.h"
#include "controlplane/signal/identity.h"
#include "controlplane/signal/requests.h"

namespace warden::control::signal {
namespace {

// A room password is hashed or checked within this long, or the request fails.
constexpr absl::Duration kPasswordDeadline = absl::Seconds(10);

}  // namespace

bool SignalHub::ReserveRoom(const std::shared_ptr<Stream>& stream, uint64_t request_id) {
  {
    absl::MutexLock lock(&mu_);
    if (static_cast<int>(stream->rooms.size()) + stream->joins_in_flight <
        options_.max_rooms_per_stream) {
      ++stream->joins_in_flight;
      return true;
    }
  }
  Fail(stream, request_id,
       absl::ResourceExhaustedError(absl::StrCat("a stream may be in at most ",
                                                 options_.max_rooms_per_stream,
                                                 " rooms; leave one first")));
  return false;
}

void SignalHub::CreateRoom(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                           const v1::CreateRoomRequest& request, Done done) {
  absl::StatusOr<RoomSettings> settings = CheckCreateRoom(request, options_.max_ttl);
  if (!settings.ok()) {
    Fail(stream, request_id, settings.status());
    std::move(done)();
    return;
  }
  if (!ReserveRoom(stream, request_id)) {
    std::move(done)();
    return;
  }
  // However the create ends, its reservation does.
  done = [this, stream, done = std::move(done)]() mutable {
    Unreserve(stream);
    std::move(done)();
  };
  auto create = [this, stream, request_id, settings = *settings](std::string hash,
                                                                 Done done) mutable {
    OnWorker(stream, request_id, std::move(done),
             [this, stream, request_id, settings = std::move(settings),
              hash = std::move(hash)](Done done) mutable {
               std::string owner_hex, principal;
               {
                 absl::MutexLock lock(&mu_);
                 owner_hex = stream->key_hex;
                 principal = stream->principal;
               }
               absl::StatusOr<store::RoomUpdate> created = rooms_.Create(
                   store::NewRoom{.name = settings.name,
                                  .password_hash = hash,
                                  .max_clients = settings.max_clients,
                                  .ttl = settings.ttl,
                                  .owner_hex = owner_hex,
                                  .created_by = principal},
                   stream->id,
                   [this](std::span<const store::RoomChange> changes) { return Encode(changes); });
               if (created.ok()) {
                 Admitted(stream, created->room, request_id);
               } else {
                 Fail(stream, request_id, created.status());
               }
               std::move(done)();
             });
  };
  if (settings->password.empty()) {
    create("", std::move(done));
    return;
  }
  auto slot = std::make_shared<Done>(std::move(done));
  hasher_.Hash(settings->password, absl::Now() + kPasswordDeadline,
               [this, stream, request_id, slot,
                create = std::move(create)](absl::StatusOr<std::string> hash) mutable {
                 if (!hash.ok()) {
                   Fail(stream, request_id, hash.status());
                   std::move (*slot)();
                   return;
                 }
                 create(*std::move(hash), std::move(*slot));
               });
}

void SignalHub::Unreserve(const std::shared_ptr<Stream>& stream) {
  absl::MutexLock lock(&mu_);
  --stream->joins_in_flight;
}

void SignalHub::JoinRoom(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                         const v1::JoinRoomRequest& request, Done done) {
  if (absl::Status valid = CheckJoinRoom(request); !valid.ok()) {
    Fail(stream, request_id, valid);
    std::move(done)();
    return;
  }
  if (!ReserveRoom(stream, request_id)) {
    std::move(done)();
    return;
  }
  const std::string room_id = request.room_id();
  {
    absl::MutexLock lock(&mu_);
    ++pending_[room_id].joins;
  }
  // Done with the join, whichever way it went: the reservation and the
  // pending mark end.
  auto finish = [this, stream, room_id](Done done) {
    {
      absl::MutexLock lock(&mu_);
      --stream->joins_in_flight;
      auto pending = pending_.find(room_id);
      if (pending != pending_.end() && --pending->second.joins == 0) pending_.erase(pending);
    }
    std::move(done)();
  };
  OnWorker(
      stream, request_id, [finish, done = std::move(done)]() mutable { finish(std::move(done)); },
      [this, stream, request_id, room_id, password = request.password()](Done done) mutable {
        absl::StatusOr<std::string> hash = rooms_.PasswordHash(room_id);
        if (!hash.ok()) {
          Fail(stream, request_id, hash.status());
          std::move(done)();
          return;
        }
        if (hash->empty()) {
          FinishJoin(stream, request_id, room_id, std::move(done));
          return;
        }
        if (password.empty()) {
          Fail(stream, request_id,
               absl::PermissionDeniedError("this room needs a password (join_room.password)"));
          std::move(done)();
          return;
        }
        auto slot = std::make_shared<Done>(std::move(done));
        hasher_.Verify(
            std::move(password), *std::move(hash), absl::Now() + kPasswordDeadline,
            [this, stream, request_id, room_id, slot](absl::StatusOr<bool> verified) mutable {
              if (!verified.ok() || !*verified) {
                Fail(stream, request_id,
                     verified.ok() ? absl::PermissionDeniedError("wrong room password")
                                   : verified.status());
                std::move (*slot)();
                return;
              }
              // Back to a database worker for the join itself.
              OnWorker(stream, request_id, std::move(*slot),
                       [this, stream, request_id, room_id](Done done) {
                         FinishJoin(stream, request_id, room_id, std::move(done));
                       });
            });
      });
}

void SignalHub::FinishJoin(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                           const std::string& room_id, Done done) {
  std::string key_hex;
  {
    absl::MutexLock lock(&mu_);
    key_hex = stream->key_hex;
  }
  absl::StatusOr<store::RoomUpdate> joined =
      rooms_.Join(room_id, key_hex, stream->id,
                  [this](std::span<const store::RoomChange> changes) { return Encode(changes); });
  if (joined.ok()) {
    Admitted(stream, joined->room, request_id);
  } else {
    Fail(stream, request_id, joined.status());
  }
  std::move(done)();
}

void SignalHub::Admitted(const std::shared_ptr<Stream>& stream, const store::RoomRecord& room,
                         uint64_t request_id) {
  v1::SignalEvent reply;
  reply.set_request_id(request_id);
  v1::RoomState* state = reply.mutable_room();
  state->set_room_id(room.id);
  state->set_name(room.name);
  state->set_owner(KeyOf(room.owner_hex));
  state->set_max_clients(room.max_clients);
  state->set_has_password(room.has_password);
  SetTimestamp(room.expires_at, state->mutable_expires_at());
  for (const store::RoomMemberRecord& member : room.members)
    SetMember(member, state->add_members());

  bool closed = false;
  {
    absl::MutexLock lock(&mu_);
    closed = stream->state == Stream::State::kClosed;
    if (!closed) {
      stream->rooms[room.id] = room.version;
      TrackedRoom& tracked = tracked_[room.id];
      // A stale view waits for its reload; any other takes the newer snapshot.
      if (!tracked.stale && tracked.version < room.version) {
        tracked.version = room.version;
        tracked.members.clear();
        for (const store::RoomMemberRecord& member : room.members) {
          tracked.members[member.key_hex] = Location{member.replica, member.connection_id};
        }
      }
      tracked.local_streams.insert(stream->id);
      stream->peer->Send(std::move(reply));
      // What changed between the join's snapshot and now, in order. Changes
      // heard while the room had a view here are in the view already.
      if (auto pending = pending_.find(room.id); pending != pending_.end()) {
        for (const v1::SignalNotice& notice : pending->second.heard) {
          if (notice.version() <= room.version) continue;
          auto view = tracked_.find(room.id);
          if (view == tracked_.end()) break;
          if (!view->second.stale && notice.version() > view->second.version) {
            ApplyToView(view->second, notice);
          }
          if (Tells(stream->id, notice)) stream->peer->Send(notice.event());
          if (Ends(stream->id, notice)) {
            ForgetRoom(stream->id, room.id);
            break;
          }
        }
      }
    }
  }
  if (closed) LeaveAll(stream->id);
}

void SignalHub::ChangeRoom(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                           const v1::SignalRequest& request, Done done) {
  absl::Status valid;
  std::string room_id;
  switch (request.body_case()) {
    case v1::SignalRequest::kLeaveRoom:
      room_id = request.leave_room().room_id();
      valid = CheckRoomId("leave_room.room_id", room_id);
      break;
    case v1::SignalRequest::kRenameRoom:
      room_id = request.rename_room().room_id();
      valid = CheckRoomId("rename_room.room_id", room_id);
      if (valid.ok()) valid = CheckRoomName("rename_room.name", request.rename_room().name());
      break;
    default:
      room_id = request.kick().room_id();
      valid = CheckRoomId("kick.room_id", room_id);
      if (valid.ok()) valid = CheckMemberKey("kick.member", request.kick().member());
  }
  if (!valid.ok()) {
    Fail(stream, request_id, valid);
    std::move(done)();
    return;
  }
  OnWorker(stream, request_id, std::move(done),
           [this, stream, request_id, request, room_id](Done done) {
             std::string key_hex;
             {
               absl::MutexLock lock(&mu_);
               key_hex = stream->key_hex;
             }
             const auto encode = [this](std::span<const store::RoomChange> changes) {
               return Encode(changes);
             };
             absl::StatusOr<std::vector<store::RoomChange>> changed;
             switch (request.body_case()) {
               case v1::SignalRequest::kLeaveRoom:
                 changed = rooms_.Leave(room_id, key_hex, stream->id, encode);
                 if (changed.ok()) {
                   absl::MutexLock lock(&mu_);
                   ForgetRoom(stream->id, room_id);
                 }
                 break;
               case v1::SignalRequest::kRenameRoom:
                 changed = rooms_.Rename(room_id, key_hex, request.rename_room().name(), encode);
                 break;
               default:
                 changed = rooms_.Kick(room_id, key_hex, KeyHex(request.kick().member()), encode);
             }
             if (!changed.ok()) {
               Fail(stream, request_id, changed.status());
             } else if (request_id != 0) {
               v1::SignalEvent ack;
               ack.set_request_id(request_id);
               ack.mutable_ack();
               stream->peer->Send(std::move(ack));
             }
             std::move(done)();
           });
}

}  // namespace warden::control::signal
