// SignalHub: relays between the members of a room. They never touch the
// database: members attached here get them at once, and one NOTIFY carries
// them to the other replicas when any member is there.

#include "absl/strings/str_cat.h"
#include "controlplane/signal/hub.h"
#include "controlplane/signal/hub_stream.h"
#include "controlplane/signal/identity.h"
#include "controlplane/signal/requests.h"

namespace warden::control::signal {

absl::Status SignalHub::RelayHere(const std::shared_ptr<Stream>& stream,
                                  const v1::RelayRequest& request, std::string& published,
                                  int& delivered) {
  absl::MutexLock lock(&mu_);
  auto room = tracked_.find(request.room_id());
  if (!stream->rooms.contains(request.room_id()) || room == tracked_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("this stream is not in room ", request.room_id(), "; join it first"));
  }
  absl::StatusOr<RelayTargets> targets = TargetsOfRelay(room->second.members, stream->key_hex,
                                                        KeyHex(request.to()), options_.replica_id);
  if (!targets.ok()) return targets.status();
  v1::SignalNotice notice;
  v1::Relayed* relayed = notice.mutable_event()->mutable_relayed();
  relayed->set_room_id(request.room_id());
  relayed->set_from(stream->key);
  relayed->set_payload(request.payload());
  if (targets->remote > 0) {
    notice.set_origin(options_.replica_id);
    notice.set_room_id(request.room_id());
    notice.set_to(request.to());
    notice.set_except(stream->key);
    absl::StatusOr<std::string> payload =
        RelayNoticePayload(notice, request.payload().size(), options_.max_notice_bytes);
    if (!payload.ok()) {
      relays_refused_.Increment();
      return payload.status();
    }
    published = *std::move(payload);
  }
  // A member attached here that left meanwhile is passed by.
  int local = 0;
  for (const std::string& id : targets->local_streams) {
    auto found = streams_.find(id);
    if (found == streams_.end() || !found->second->rooms.contains(request.room_id())) continue;
    found->second->peer->Send(notice.event());
    ++local;
  }
  delivered = local + targets->remote;
  return absl::OkStatus();
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
  if (refused.ok()) refused = RelayHere(stream, request, published, delivered);
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

}  // namespace warden::control::signal
