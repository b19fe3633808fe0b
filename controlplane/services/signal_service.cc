#include "controlplane/services/signal_service.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/secrets.h"
#include "controlplane/services/write_queue.h"

namespace warden::control::services {
namespace {

constexpr size_t kMaxQueuedEvents = 4096;

size_t EventBytes(const v1::SignalEvent& event) { return event.ByteSizeLong(); }

class ConnectStream final : public grpc::ServerBidiReactor<v1::SignalRequest, v1::SignalEvent> {
 public:
  ConnectStream(grpc::CallbackServerContext* ctx, signal::SignalHub& hub)
      : ctx_(ctx),
        hub_(hub),
        overflow_(absl::StrCat("the client does not read its events fast enough (more than ",
                               hub.options().max_queued_bytes,
                               " bytes queued for it); read them, and reconnect")),
        writes_(
            kMaxQueuedEvents, overflow_,
            [this](const v1::SignalEvent* event) { StartWrite(event); },
            [this](const grpc::Status& status) { Finish(status); }, hub.options().max_queued_bytes,
            EventBytes,
            [this] {
              // Its status would wait behind the write it does not take:
              // the call is cancelled, and the client sees CANCELLED.
              hub_.CountEnd("slow_reader");
              ctx_->TryCancel();
            }),
        peer_(std::make_shared<Peer>(this)) {
    writes_.Hold();
    stream_ = hub_.Open(peer_);
    hub_.Begin(stream_, BearerToken(ctx->client_metadata()), [this] { ReadNext(); });
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side, or the stream broke
      writes_.FinishOnce(grpc::Status::OK);
      return;
    }
    if (!writes_.Hold()) return;  // finished meanwhile: nobody to relay for
    hub_.Handle(stream_, std::move(incoming_), [this] { ReadNext(); });
  }
  void OnWriteDone(bool ok) override { writes_.WriteDone(ok); }
  void OnCancel() override { writes_.FinishOnce(grpc::Status::CANCELLED); }
  void OnDone() override {
    peer_->Detach();
    hub_.Closed(stream_);
    delete this;
  }

 private:
  // The hub's handle on this stream; it outlives the stream, doing nothing
  // once the stream is done.
  class Peer final : public signal::SignalPeer {
   public:
    explicit Peer(ConnectStream* stream) : writes_(&stream->writes_) {}
    bool Send(v1::SignalEvent event) override { return writes_.Enqueue(std::move(event)); }
    void Close(const absl::Status& status) override { writes_.FinishOnce(ToGrpcStatus(status)); }
    void Detach() { writes_.Detach(); }

   private:
    WriteQueueHandle<v1::SignalEvent> writes_;
  };

  // While held, the stream is not finished (nor deleted): the read starts
  // first, and fails at once if the stream is ending.
  void ReadNext() {
    incoming_.Clear();
    StartRead(&incoming_);
    writes_.Release();
  }

  grpc::CallbackServerContext* const ctx_;
  signal::SignalHub& hub_;
  const std::string overflow_;
  WriteQueue<v1::SignalEvent> writes_;
  std::shared_ptr<Peer> peer_;
  std::shared_ptr<signal::SignalHub::Stream> stream_;
  v1::SignalRequest incoming_;
};

}  // namespace

signal::TokenCheck SignalTokenCheck(Authenticator& api_keys, store::FamilyStore& families) {
  return [&api_keys, &families](const std::string& token) -> absl::StatusOr<model::Credential> {
    if (absl::StartsWith(token, "wat_")) {
      if (!secrets::LooksLikeToken(token, "wat_")) {
        return absl::UnauthenticatedError("malformed access token");
      }
      absl::StatusOr<store::AccessGrant> grant = families.Authenticate(secrets::Sha256Hex(token));
      if (!grant.ok()) return grant.status();
      if (grant->user_disabled) {
        return absl::PermissionDeniedError(absl::StrCat("user ", grant->username, " is disabled"));
      }
      return model::Credential{.kind = model::Credential::Kind::kLogin,
                               .principal = absl::StrCat("user:", grant->username),
                               .user_id = grant->user_id,
                               .family_id = grant->family_id};
    }
    absl::StatusOr<Principal> key = api_keys.Authenticate(token);
    if (key.status().code() == absl::StatusCode::kUnauthenticated) {
      return absl::UnauthenticatedError(
          "a signalling stream needs a valid access token (SessionService.Login) or API key");
    }
    if (!key.ok()) return key.status();  // e.g. UNAVAILABLE: the key may well be good
    return KeyCredential(*key);
  };
}

grpc::ServerBidiReactor<v1::SignalRequest, v1::SignalEvent>* SignalService::Connect(
    grpc::CallbackServerContext* ctx) {
  return new ConnectStream(ctx, hub_);
}

}  // namespace warden::control::services
