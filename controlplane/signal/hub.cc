#include "controlplane/signal/hub.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "controlplane/signal/hub_stream.h"
#include "controlplane/signal/identity.h"
#include "controlplane/signal/requests.h"

namespace warden::control::signal {
namespace {

const logging::Logger Log("control.signal");

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
  subscription_ = options_.listener->Subscribe(
      {store::kSignalChannel},
      [this](const std::string&, const std::string& payload) { OnNotification(payload); },
      [this] {
        // Whatever was published while the link was down went unheard.
        MarkAllStale();
        (void)db_workers_.TrySubmit([this] { Resync(); });
      });
  sweeper_ = std::thread([this] { SweepLoop(); });
  deadlines_ = std::thread([this] { DeadlineLoop(); });
}

void SignalHub::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (sweeper_.joinable()) sweeper_.join();
  if (deadlines_.joinable()) deadlines_.join();
  if (subscription_ != 0) options_.listener->Unsubscribe(std::exchange(subscription_, 0));
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

HubStats SignalHub::LocalStats() const {
  absl::MutexLock lock(&mu_);
  return HubStats{.streams = static_cast<int64_t>(streams_.size())};
}

absl::StatusOr<store::SignalStats> SignalHub::FleetStats() {
  return rooms_.Stats(options_.replica_timeout);
}

}  // namespace warden::control::signal
