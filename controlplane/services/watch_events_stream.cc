#include "controlplane/services/watch_events_stream.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "controlplane/services/convert.h"

namespace warden::control::services {

class WatchEventsStream::Sink final : public dispatch::EventSink {
 public:
  explicit Sink(WatchEventsStream* stream) : writes_(&stream->writes_) {}

  bool Deliver(const model::AuditEvent& event) override {
    v1::WatchEventsResponse response;
    ToProto(event, response.mutable_event());
    return writes_.Enqueue(std::move(response));
  }
  void Heartbeat() override {
    v1::WatchEventsResponse response;
    ToProto(absl::Now(), response.mutable_heartbeat());
    writes_.Enqueue(std::move(response));
  }
  void End(const absl::Status& why) override { writes_.FinishOnce(ToGrpcStatus(why)); }
  void Detach() { writes_.Detach(); }

 private:
  WriteQueueHandle<v1::WatchEventsResponse> writes_;
};

WatchEventsStream::WatchEventsStream(grpc::CallbackServerContext* ctx,
                                     const v1::WatchEventsRequest* request, WorkerPool& db_workers,
                                     Authenticator& authenticator, dispatch::EventFeed& feed)
    : feed_(feed),
      authenticator_(authenticator),
      writes_(
          10000, "the watcher fell behind; resume with after_id set to the last event id seen",
          [this](const v1::WatchEventsResponse* response) { StartWrite(response); },
          [this](const grpc::Status& status) { Finish(status); }),
      sink_(std::make_shared<Sink>(this)) {
  writes_.Hold();
  if (!db_workers.TrySubmit(
          [this, token = BearerToken(ctx->client_metadata()), request = *request]() mutable {
            Subscribe(std::move(token), std::move(request));
          })) {
    writes_.FinishOnce(ToGrpcStatus(OverloadedError()));
    writes_.Release();
  }
}

void WatchEventsStream::Subscribe(std::string token, v1::WatchEventsRequest request) {
  absl::StatusOr<Principal> principal = authenticator_.Authenticate(token);
  absl::Status status = principal.status();
  if (status.ok() && (request.after_id() < 0 || request.actor().size() > 256 ||
                      request.action().size() > 256 || request.subject().size() > 256)) {
    status = absl::InvalidArgumentError(
        "after_id must not be negative; actor, action and subject at most 256 characters");
  }
  if (status.ok()) {
    model::AuditFilter filter;
    filter.actor = request.actor();
    filter.action = request.action();
    filter.subject = request.subject();
    absl::StatusOr<int64_t> subscription =
        feed_.Subscribe(sink_, filter, request.after_id(), KeyCredential(*principal));
    if (subscription.ok()) {
      subscription_.store(*subscription);
    } else {
      status = subscription.status();
    }
  }
  if (!status.ok()) writes_.FinishOnce(ToGrpcStatus(status));
  writes_.Release();
}

void WatchEventsStream::OnDone() {
  sink_->Detach();
  if (const int64_t subscription = subscription_.load(); subscription != 0) {
    feed_.Unsubscribe(subscription);
  }
  delete this;
}

}  // namespace warden::control::services
