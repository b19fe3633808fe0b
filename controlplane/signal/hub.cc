#include "controlplane/signal/hub.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "controlplane/signal/hub_stream.h"
#include "controlplane/signal/identity.h"
#include "controlplane/signal/requests.h"

namespace warden::control::signal {
namespace {

const logging::Logger Log("control.signal");

constexpr absl::Duration kPasswordDeadline = absl::Seconds(10);

absl::Status Refused() {
  return absl::UnavailableError(
      "this replica is shutting down: connect again (to any replica) and join your rooms again");
}

const char* RequestName(v1::SignalRequest::BodyCase body) {
  switch (body) {
    case v1::SignalRequest::kAuthenticate:
      return "authenticate";
    case v1::SignalRequest::kIdentify:
      return "identify";
    case v1::SignalRequest::kCreateRoom:
      return "create_room";
    case v1::SignalRequest::kJoinRoom:
      return "join_room";
    case v1::SignalRequest::kLeaveRoom:
      return "leave_room";
    case v1::SignalRequest::kRenameRoom:
      return "rename_room";
    case v1::SignalRequest::kKick:
      return "kick";
    case v1::SignalRequest::kRelay:
      return "relay";
    default:
      return "empty";
  }
}

}  // namespace

v1::SignalEvent ErrorEvent(uint64_t request_id, const absl::Status& status) {
  v1::SignalEvent event;
  event.set_request_id(request_id);
  event.mutable_error()->set_code(absl::StatusCodeToString(status.code()));
  event.mutable_error()->set_message(std::string(status.message()));
  return event;
}

SignalHub::SignalHub(HubOptions options, store::RoomStore& rooms, PasswordHasher& hasher,
                     WorkerPool& db_workers, TokenCheck check_token,
                     dispatch::CredentialWatch& credentials, metrics::Registry& metrics)
    : options_(std::move(options)),
      rooms_(rooms),
      hasher_(hasher),
      db_workers_(db_workers),
      check_token_(std::move(check_token)),
      credentials_(credentials),
      relays_by_result_(metrics.AddCounter("warden_signal_relays_total",
                                           "Relays by result: delivered, refused (too big to "
                                           "cross replicas), rate_limited.",
                                           {"result"})),
      relays_delivered_(relays_by_result_.With({"delivered"})),
      relays_refused_(relays_by_result_.With({"refused"})),
      relays_rate_limited_(relays_by_result_.With({"rate_limited"})),
      relay_bytes_(metrics
                       .AddCounter("warden_signal_relay_bytes_total",
                                   "Payload bytes relayed by members attached here.")
                       .With({})),
      notices_sent_(metrics
                        .AddCounter("warden_signal_notices_published_total",
                                    "Relays published to other replicas (NOTIFY).")
                        .With({})),
      notices_received_(metrics
                            .AddCounter("warden_signal_notices_received_total",
                                        "Room changes and relays heard from the database.")
                            .With({})),
      notice_gaps_(metrics
                       .AddCounter("warden_signal_resyncs_total",
                                   "Times a room view was reloaded after a missed change.")
                       .With({})),
      requests_(metrics.AddCounter("warden_signal_requests_total",
                                   "Signalling requests received, by kind.", {"request"})),
      errors_(metrics.AddCounter("warden_signal_errors_total",
                                 "Signalling requests answered with an error, by code.", {"code"})),
      ends_(metrics.AddCounter("warden_signal_streams_ended_total",
                               "Signalling streams ended by this replica, by why: auth_deadline, "
                               "too_many_streams, slow_reader, frame_too_big.",
                               {"reason"})) {
  metrics.AddGaugeFunc("warden_signal_streams", "Signalling streams attached to this replica.",
                       [this] { return static_cast<double>(LocalStats().streams); });
  metrics::Family<metrics::Gauge>& fleet =
      metrics.AddGauge("warden_signal_fleet",
                       "Rooms and members, fleet-wide (the same on every replica).", {"kind"});
  metrics.OnScrape([this, &fleet] {
    absl::StatusOr<store::SignalStats> stats = FleetStats();
    if (!stats.ok()) return;  // keep the last values
    fleet.With({"rooms"}).Set(static_cast<double>(stats->rooms));
    fleet.With({"members"}).Set(static_cast<double>(stats->members));
  });
}

SignalHub::~SignalHub() { Stop(); }

void SignalHub::Start() {
  listener_ = std::make_unique<store::NotificationListener>(
      options_.listen_connection_string, std::vector<std::string>{store::kSignalChannel},
      [this](const std::string&, const std::string& payload) { OnNotification(payload); },
      [this] {
        // Whatever was published while the link was down went unheard.
        MarkAllStale();
        (void)db_workers_.TrySubmit([this] { Resync(); });
      });
  listener_->Start();
  sweeper_ = std::thread([this] { SweepLoop(); });
  deadlines_ = std::thread([this] { DeadlineLoop(); });
}

void SignalHub::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (sweeper_.joinable()) sweeper_.join();
  if (deadlines_.joinable()) deadlines_.join();
  if (listener_) listener_->Stop();
}

void SignalHub::Drain(absl::Duration drain) {
  std::vector<std::shared_ptr<Stream>> streams;
  {
    absl::MutexLock lock(&mu_);
    draining_ = true;
    for (const auto& [id, stream] : streams_) streams.push_back(stream);
  }
  Log()->info("draining {} signalling streams for up to {}", streams.size(),
              absl::FormatDuration(drain));
  v1::SignalEvent notice;
  notice.mutable_shutdown()->set_reason(
      "this replica is shutting down: connect again (to any replica) and join your rooms again");
  notice.mutable_shutdown()->set_drain_seconds(static_cast<int32_t>(absl::ToInt64Seconds(drain)));
  for (const auto& stream : streams) stream->peer->Send(notice);
  streams.clear();
  const auto all_gone = [this] {
    mu_.AssertReaderHeld();
    return streams_.empty();
  };
  {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&all_gone), drain);
    for (const auto& [id, stream] : streams_) streams.push_back(stream);
  }
  for (const auto& stream : streams) stream->peer->Close(Refused());
  // The streams' own leaves may still be queued; this removes every
  // membership held here in one pass, so the others hear of it now.
  absl::StatusOr<std::vector<store::RoomChange>> left = rooms_.LeaveReplica(
      [this](std::span<const store::RoomChange> changes) { return Encode(changes); });
  if (!left.ok()) Log()->warn("cannot remove this replica's members: {}", left.status().message());
  (void)rooms_.Forget();
}

std::shared_ptr<SignalHub::Stream> SignalHub::Open(std::shared_ptr<SignalPeer> peer) {
  auto stream = std::make_shared<Stream>(NewConnectionId(), std::move(peer), options_.relay_rate);
  absl::MutexLock lock(&mu_);
  if (draining_) {
    stream->state = Stream::State::kClosed;
  } else {
    streams_[stream->id] = stream;
  }
  return stream;
}

void SignalHub::Begin(const std::shared_ptr<Stream>& stream, std::string bearer_token, Done ready) {
  bool refused = false;
  {
    absl::MutexLock lock(&mu_);
    refused = stream->state == Stream::State::kClosed;
  }
  if (refused) {
    stream->peer->Close(Refused());
    std::move(ready)();
  } else if (bearer_token.empty()) {
    std::move(ready)();
  } else {
    Authenticate(stream, 0, std::move(bearer_token), std::move(ready));
  }
}

void SignalHub::OnWorker(const std::shared_ptr<Stream>& stream, uint64_t request_id, Done done,
                         absl::AnyInvocable<void(Done) &&> work) {
  auto slot = std::make_shared<Done>(std::move(done));
  if (!db_workers_.TrySubmit(
          [slot, work = std::move(work)]() mutable { std::move(work)(std::move(*slot)); })) {
    Fail(stream, request_id, OverloadedError());
    std::move (*slot)();
  }
}

void SignalHub::Fail(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                     const absl::Status& status) {
  errors_.With({absl::StatusCodeToString(status.code())}).Increment();
  stream->peer->Send(ErrorEvent(request_id, status));
}

void SignalHub::Handle(const std::shared_ptr<Stream>& stream, v1::SignalRequest request,
                       Done done) {
  const uint64_t id = request.request_id();
  const auto body = request.body_case();
  Stream::State state;
  {
    absl::MutexLock lock(&mu_);
    state = stream->state;
  }
  requests_.With({RequestName(body)}).Increment();
  if (state == Stream::State::kClosed) {
    std::move(done)();
    return;
  }
  if (state == Stream::State::kAwaitingToken) {
    if (body == v1::SignalRequest::kAuthenticate) {
      Authenticate(stream, id, request.authenticate().token(), std::move(done));
    } else {
      stream->peer->Close(absl::UnauthenticatedError(
          "authenticate first: send the header 'authorization: Bearer <access token or API "
          "key>', or an authenticate message"));
      std::move(done)();
    }
    return;
  }
  if (body == v1::SignalRequest::kAuthenticate) {
    Fail(stream, id, absl::FailedPreconditionError("this stream is already authenticated"));
  } else if (body == v1::SignalRequest::kIdentify) {
    if (state == Stream::State::kIdentified) {
      Fail(stream, id, absl::FailedPreconditionError("this stream is already identified"));
    } else {
      Identify(stream, id, request.identify());
    }
  } else if (state != Stream::State::kIdentified) {
    Fail(stream, id,
         absl::FailedPreconditionError("answer the challenge (identify) before anything else"));
  } else {
    switch (body) {
      case v1::SignalRequest::kCreateRoom:
        CreateRoom(stream, id, request.create_room(), std::move(done));
        return;
      case v1::SignalRequest::kJoinRoom:
        JoinRoom(stream, id, request.join_room(), std::move(done));
        return;
      case v1::SignalRequest::kLeaveRoom:
      case v1::SignalRequest::kRenameRoom:
      case v1::SignalRequest::kKick:
        ChangeRoom(stream, id, request, std::move(done));
        return;
      case v1::SignalRequest::kRelay:
        Relay(stream, id, request.relay(), std::move(done));
        return;
      default:
        Fail(stream, id, absl::InvalidArgumentError("empty or unknown request"));
    }
  }
  std::move(done)();
}

void SignalHub::Authenticate(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                             std::string token, Done done) {
  OnWorker(stream, request_id, std::move(done),
           [this, stream, request_id, token = std::move(token)](Done done) mutable {
             absl::StatusOr<model::Credential> credential = check_token_(token);
             if (!credential.ok()) {
               stream->peer->Close(credential.status());
               std::move(done)();
               return;
             }
             v1::SignalEvent event;
             event.set_request_id(request_id);
             absl::Status refused;
             bool closed = false;
             {
               absl::MutexLock lock(&mu_);
               const std::string principal = credential->principal;
               auto streams = per_principal_.find(principal);
               if (stream->state == Stream::State::kClosed) {
                 closed = true;  // Closed has run, and counted nothing for it
               } else if (streams != per_principal_.end() &&
                          streams->second >= options_.max_streams_per_principal) {
                 refused = absl::ResourceExhaustedError(absl::StrCat(
                     principal, " already has ", options_.max_streams_per_principal,
                     " signalling streams on this replica (--signal-max-streams-per-principal); "
                     "close one first"));
               } else {
                 ++per_principal_[principal];
                 stream->principal = principal;
                 std::weak_ptr<SignalPeer> peer = stream->peer;
                 stream->credential_watch =
                     credentials_.Watch(*std::move(credential), [peer](const absl::Status& why) {
                       if (auto alive = peer.lock()) alive->Close(why);
                     });
                 stream->nonce = NewNonce();
                 stream->state = Stream::State::kChallenged;
                 event.mutable_challenge()->set_nonce(stream->nonce);
               }
             }
             if (closed || !refused.ok()) {
               if (!refused.ok()) {
                 ends_.With({"too_many_streams"}).Increment();
                 stream->peer->Close(refused);
               }
               std::move(done)();
               return;
             }
             event.mutable_challenge()->set_context(std::string(kChallengeContext));
             stream->peer->Send(std::move(event));
             std::move(done)();
           });
}

void SignalHub::Identify(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                         const v1::SignalIdentify& identify) {
  std::string nonce;
  {
    absl::MutexLock lock(&mu_);
    nonce = stream->nonce;
  }
  if (absl::Status verified = VerifyChallenge(identify.public_key(), nonce, identify.signature());
      !verified.ok()) {
    stream->peer->Close(verified.code() == absl::StatusCode::kUnauthenticated
                            ? verified
                            : absl::UnauthenticatedError(verified.message()));
    return;
  }
  v1::SignalEvent event;
  event.set_request_id(request_id);
  {
    absl::MutexLock lock(&mu_);
    stream->key = identify.public_key();
    stream->key_hex = KeyHex(stream->key);
    stream->nonce.clear();
    stream->state = Stream::State::kIdentified;
    event.mutable_identified()->set_member(stream->key);
    event.mutable_identified()->set_principal(stream->principal);
  }
  stream->peer->Send(std::move(event));
}

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

void SignalHub::Relay(const std::shared_ptr<Stream>& stream, uint64_t request_id,
                      const v1::RelayRequest& request, Done done) {
  absl::Status refused = CheckRelay(request);
  if (refused.ok() && !stream->relay_budget.TryTake(1, Stream::SteadyNanos())) {
    refused = absl::ResourceExhaustedError(absl::StrCat(
        "this stream sends more than ", options_.relay_rate, " relays a second (bursts of up to ",
        2 * options_.relay_rate, "); slow down"));
    relays_rate_limited_.Increment();
  }
  std::string published;
  int delivered = 0;
  if (refused.ok()) {
    absl::MutexLock lock(&mu_);
    auto room = tracked_.find(request.room_id());
    if (!stream->rooms.contains(request.room_id()) || room == tracked_.end()) {
      refused = absl::FailedPreconditionError(
          absl::StrCat("this stream is not in room ", request.room_id(), "; join it first"));
    } else {
      std::vector<std::shared_ptr<Stream>> local;
      int remote = 0;
      const auto consider = [&](const Location& where) {
        if (where.replica != options_.replica_id) {
          ++remote;
        } else if (auto found = streams_.find(where.stream_id);
                   found != streams_.end() && found->second->rooms.contains(request.room_id())) {
          local.push_back(found->second);
        }
      };
      if (!request.to().empty()) {
        auto member = room->second.members.find(KeyHex(request.to()));
        if (member == room->second.members.end()) {
          refused = absl::NotFoundError("no member with that key (relay.to) is in the room");
        } else if (member->first == stream->key_hex) {
          refused = absl::InvalidArgumentError("relay.to is this stream's own key");
        } else {
          consider(member->second);
        }
      } else {
        for (const auto& [key_hex, where] : room->second.members) {
          if (key_hex != stream->key_hex) consider(where);
        }
      }
      v1::SignalNotice notice;
      if (refused.ok()) {
        v1::Relayed* relayed = notice.mutable_event()->mutable_relayed();
        relayed->set_room_id(request.room_id());
        relayed->set_from(stream->key);
        relayed->set_payload(request.payload());
      }
      if (refused.ok() && remote > 0) {
        notice.set_origin(options_.replica_id);
        notice.set_room_id(request.room_id());
        notice.set_to(request.to());
        notice.set_except(stream->key);
        published = absl::Base64Escape(notice.SerializeAsString());
        if (published.size() > options_.max_notice_bytes) {
          refused = absl::FailedPreconditionError(absl::StrCat(
              "a relay of ", request.payload().size(),
              " bytes cannot reach members attached to other replicas (their link carries "
              "about ",
              options_.max_notice_bytes * 3 / 4 - 200,
              " bytes of payload); send it in smaller pieces"));
          relays_refused_.Increment();
        }
      }
      if (refused.ok()) {
        for (const auto& target : local) target->peer->Send(notice.event());
        delivered = static_cast<int>(local.size()) + remote;
      }
    }
  }
  if (!refused.ok()) {
    Fail(stream, request_id, refused);
    std::move(done)();
    return;
  }
  relays_.fetch_add(1, std::memory_order_relaxed);
  relays_delivered_.Increment();
  relay_bytes_.Increment(static_cast<double>(request.payload().size()));
  const auto ack = [stream, request_id, delivered] {
    if (request_id == 0) return;
    v1::SignalEvent event;
    event.set_request_id(request_id);
    event.mutable_ack()->set_delivered(delivered);
    stream->peer->Send(std::move(event));
  };
  if (published.empty()) {
    ack();
    std::move(done)();
    return;
  }
  OnWorker(stream, request_id, std::move(done),
           [this, stream, request_id, ack, published = std::move(published)](Done done) {
             if (absl::Status sent = rooms_.Publish(published); sent.ok()) {
               notices_sent_.Increment();
               ack();
             } else {
               Fail(stream, request_id, sent);
             }
             std::move(done)();
           });
}

void SignalHub::Closed(const std::shared_ptr<Stream>& stream) {
  bool had_rooms = false;
  {
    absl::MutexLock lock(&mu_);
    if (stream->state == Stream::State::kClosed && !streams_.contains(stream->id)) return;
    stream->state = Stream::State::kClosed;
    streams_.erase(stream->id);
    if (!stream->principal.empty()) {
      auto count = per_principal_.find(stream->principal);
      if (count != per_principal_.end() && --count->second <= 0) per_principal_.erase(count);
      credentials_.Forget(stream->credential_watch);
    }
    had_rooms = !stream->rooms.empty() || stream->joins_in_flight > 0;
    for (const auto& [room_id, version] : std::map(stream->rooms)) ForgetRoom(stream->id, room_id);
  }
  if (had_rooms) LeaveAll(stream->id);
}

void SignalHub::LeaveAll(const std::string& stream_id) {
  const bool queued = db_workers_.TrySubmit([this, stream_id] {
    absl::StatusOr<std::vector<store::RoomChange>> left = rooms_.LeaveConnection(
        stream_id, "disconnected",
        [this](std::span<const store::RoomChange> changes) { return Encode(changes); });
    if (!left.ok()) {
      Log()->warn("cannot remove the memberships of a closed stream (retrying): {}",
                  left.status().message());
      absl::MutexLock lock(&mu_);
      orphans_.insert(stream_id);
    }
  });
  if (!queued) {
    absl::MutexLock lock(&mu_);
    orphans_.insert(stream_id);
  }
}

void SignalHub::ForgetRoom(const std::string& stream_id, const std::string& room_id) {
  if (auto stream = streams_.find(stream_id); stream != streams_.end()) {
    stream->second->rooms.erase(room_id);
  }
  auto room = tracked_.find(room_id);
  if (room == tracked_.end()) return;
  room->second.local_streams.erase(stream_id);
  if (room->second.local_streams.empty()) tracked_.erase(room);
}

void SignalHub::CountEnd(const std::string& reason) { ends_.With({reason}).Increment(); }

void SignalHub::DeadlineLoop() {
  const absl::Duration tick =
      std::clamp(options_.auth_deadline / 4, absl::Milliseconds(20), absl::Seconds(1));
  const int64_t deadline_nanos = absl::ToInt64Nanoseconds(options_.auth_deadline);
  const absl::Status late = absl::UnauthenticatedError(
      absl::StrCat("authenticate and answer the challenge (identify) within ",
                   absl::FormatDuration(options_.auth_deadline), " of connecting"));
  while (!stop_.WaitForNotificationWithTimeout(tick)) {
    std::vector<std::shared_ptr<Stream>> overdue;
    {
      absl::MutexLock lock(&mu_);
      const int64_t now = Stream::SteadyNanos();
      for (const auto& [id, stream] : streams_) {
        if (stream->state == Stream::State::kIdentified || stream->past_deadline ||
            now - stream->opened_nanos < deadline_nanos) {
          continue;
        }
        stream->past_deadline = true;
        overdue.push_back(stream);
      }
    }
    for (const auto& stream : overdue) {
      ends_.With({"auth_deadline"}).Increment();
      stream->peer->Close(late);
    }
  }
}

HubStats SignalHub::LocalStats() const {
  absl::MutexLock lock(&mu_);
  return HubStats{.streams = static_cast<int64_t>(streams_.size())};
}

absl::StatusOr<store::SignalStats> SignalHub::FleetStats() {
  return rooms_.Stats(options_.replica_timeout);
}

}  // namespace warden::control::signal
