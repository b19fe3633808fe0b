#include "controlplane/services/attach_stream.h"

#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "controlplane/services/authenticator.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {

// The dispatcher's handle on this stream. It outlives the stream: once the
// stream is done, calls on it do nothing.
class AttachStream::Channel final : public dispatch::AgentChannel {
 public:
  explicit Channel(AttachStream* stream) : writes_(&stream->writes_) {}

  bool Send(const model::Command& command) override {
    v1::ControlMessage message;
    ToProto(command, message.mutable_command());
    return writes_.Enqueue(std::move(message));
  }
  void SendHeartbeat() override {
    v1::ControlMessage message;
    ToProto(absl::Now(), message.mutable_heartbeat()->mutable_sent_at());
    writes_.Enqueue(std::move(message));
  }
  void Close(const absl::Status& status) override { writes_.FinishOnce(ToGrpcStatus(status)); }
  void Detach() { writes_.Detach(); }

 private:
  WriteQueueHandle<v1::ControlMessage> writes_;
};

AttachStream::AttachStream(grpc::CallbackServerContext* ctx, AttachDependencies deps)
    : deps_(deps),
      token_(BearerToken(ctx->client_metadata())),
      certificate_names_(PeerCertificateNames(*ctx)),
      writes_(
          10000, "the agent does not keep up with its commands; reconnect",
          [this](const v1::ControlMessage* message) { StartWrite(message); },
          [this](const grpc::Status& status) { Finish(status); }),
      channel_(std::make_shared<Channel>(this)) {
  deps_.dispatcher.AwaitHello(channel_);
  StartRead(&incoming_);
}

void AttachStream::OnReadDone(bool ok) {
  if (!ok) {  // the agent closed its side, or the stream broke
    writes_.FinishOnce(grpc::Status::OK);
    return;
  }
  if (!attached_) {
    if (incoming_.body_case() != v1::AgentMessage::kHello) {
      writes_.FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                      "the first message on Attach must be Hello"));
      return;
    }
    // Authentication and the reconcile touch the database: off this thread.
    // Until HandleHello is done, this stream is not finished (and so not
    // deleted) whatever happens meanwhile; a finish is deferred instead.
    auto hello = std::make_shared<v1::Hello>(std::move(*incoming_.mutable_hello()));
    if (!writes_.Hold()) return;  // finished meanwhile: the agent attaches again
    if (!deps_.db_workers.TrySubmit([this, hello] { HandleHello(std::move(*hello)); })) {
      writes_.FinishOnce(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                      "the control plane is overloaded; reconnect with backoff"));
      writes_.Release();
    }
    return;
  }
  absl::StatusOr<Next> next = HandleMessage(incoming_);
  if (!next.ok()) {
    writes_.FinishOnce(ToGrpcStatus(next.status()));
    return;
  }
  if (*next == Next::kReadNow) StartRead(&incoming_);
}

AttachStream::Next AttachStream::HandOver(
    absl::FunctionRef<bool(dispatch::Dispatcher::Applied)> report) {
  if (!writes_.Hold()) {
    // Finished by another thread while the message was read: the stream may
    // be deleted once this reaction returns. The report is still applied,
    // with nothing to continue.
    report([] {});
    return Next::kWhenApplied;
  }
  // Held until the report is applied: the stream is not finished (and so
  // not deleted) meanwhile, and reads on only then.
  const bool queued = report([this] {
    StartRead(&incoming_);
    writes_.Release();
  });
  if (!queued) {
    writes_.FinishOnce(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                    "the control plane is overloaded; reconnect with backoff"));
    writes_.Release();
  }
  return Next::kWhenApplied;
}

void AttachStream::HandleHello(v1::Hello hello) {
  const absl::Status attached = Attach(hello);
  if (attached.ok()) {
    deps_.dispatcher.DeliverPending(node_.id);
    // Still held: the stream cannot be finished and destroyed before the
    // read is started; a read on an ending stream just fails.
    StartRead(&incoming_);
  } else {
    writes_.FinishOnce(ToGrpcStatus(attached));
  }
  writes_.Release();
}

absl::Status AttachStream::Attach(const v1::Hello& hello) {
  WARDEN_ASSIGN_OR_RETURN(store::NodeIdentity node,
                          deps_.nodes.Authenticate(token_, certificate_names_));
  WARDEN_ASSIGN_OR_RETURN(dispatch::AttachRequest request, ValidateHello(hello));
  WARDEN_ASSIGN_OR_RETURN(dispatch::AttachResult attached,
                          deps_.dispatcher.Attach(node, std::move(request), channel_));
  node_ = std::move(node);
  attached_ = true;
  v1::ControlMessage welcome;
  v1::Welcome* body = welcome.mutable_welcome();
  body->set_node_id(node_.id);
  body->set_node_name(attached.node_name);
  body->set_attach_epoch(attached.epoch);
  body->set_heartbeat_seconds(static_cast<int32_t>(absl::ToInt64Seconds(deps_.heartbeat_interval)));
  body->set_closed_as_lost(attached.reconcile.closed_as_lost);
  body->set_draining(attached.draining);
  for (const model::WireGuardPeer& peer : attached.wireguard_peers) {
    ToProto(peer, body->add_wireguard_peers());
  }
  for (const auto& [key, id] : attached.reconcile.adopted) {
    v1::AdoptedSession* adopted = body->add_adopted();
    adopted->set_session_key(key);
    adopted->set_session_id(id);
  }
  writes_.Enqueue(std::move(welcome));
  return absl::OkStatus();
}

absl::StatusOr<AttachStream::Next> AttachStream::HandleMessage(const v1::AgentMessage& message) {
  deps_.dispatcher.OnHeard(node_.id);
  dispatch::AgentReports& reports = deps_.dispatcher.reports();
  switch (message.body_case()) {
    case v1::AgentMessage::kResult: {
      const v1::CommandResult& result = message.result();
      if (result.command_id() <= 0) {
        return absl::InvalidArgumentError("result.command_id must be positive");
      }
      return HandOver([&](dispatch::Dispatcher::Applied applied) {
        return reports.OnResult(node_.id, result.command_id(), result.ok(),
                                result.error().substr(0, 1024), std::move(applied));
      });
    }
    case v1::AgentMessage::kEvent: {
      const v1::SessionEvent& event = message.event();
      switch (event.kind_case()) {
        case v1::SessionEvent::kClosed: {
          absl::StatusOr<store::ClosedReport> closed =
              ValidateClosedReport("event.closed", event.closed());
          if (!closed.ok()) return closed.status();
          return HandOver([&](dispatch::Dispatcher::Applied applied) {
            return reports.OnClosed(node_, *std::move(closed), std::move(applied));
          });
        }
        case v1::SessionEvent::kUsage: {
          absl::StatusOr<model::UsageReport> usage =
              ValidateUsageReport("event.usage", node_.id, event.usage());
          if (!usage.ok()) return usage.status();
          return HandOver([&](dispatch::Dispatcher::Applied applied) {
            return reports.OnUsage(*std::move(usage), std::move(applied));
          });
        }
        case v1::SessionEvent::kOpened: {
          const v1::SessionOpened& opened = event.opened();
          if ((opened.session_id().empty() && opened.session_key().empty()) ||
              opened.tunnel_address().size() > 128) {
            return absl::InvalidArgumentError(
                "event.opened needs session_id or session_key; tunnel_address at most 128 bytes");
          }
          return HandOver([&](dispatch::Dispatcher::Applied applied) {
            return reports.OnOpened(node_.id, opened.session_id(), opened.session_key(),
                                    opened.tunnel_address(), std::move(applied));
          });
        }
        default:
          return absl::InvalidArgumentError("event has no kind");
      }
    }
    case v1::AgentMessage::kHeartbeat:
      return Next::kReadNow;
    case v1::AgentMessage::kHello:
      return absl::InvalidArgumentError("Hello may be sent only once per stream");
    default:
      return absl::InvalidArgumentError("empty or unknown message on Attach");
  }
}

void AttachStream::OnDone() {
  channel_->Detach();
  deps_.dispatcher.Detach(node_.id, channel_.get());
  delete this;
}

}  // namespace warden::control::services
