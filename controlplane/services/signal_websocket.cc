#include "controlplane/services/signal_websocket.h"

#include <civetweb.h>

#include <algorithm>
#include <deque>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/logging.h"
#include "controlplane/services/authenticator.h"
#include "controlplane/services/signal_websocket_json.h"

namespace warden::control::services {
namespace {

const logging::Logger Log("control.signal.ws");

constexpr char kPath[] = "/v1/signal";
constexpr int kOpcodeText = 0x1;
constexpr int kOpcodeClose = 0x8;
constexpr int kOpcodePing = 0x9;
constexpr int kOpcodePong = 0xA;

std::string BearerFrom(const mg_connection* conn) {
  const char* header = mg_get_header(conn, "Authorization");
  return header == nullptr ? "" : BearerTokenOf(header);
}

}  // namespace

// One WebSocket: the hub's peer for it, with its outgoing queue and writer.
class SignalWebSocket::Connection final : public signal::SignalPeer {
 public:
  Connection(mg_connection* conn, SignalWebSocket& server, int upstream_port)
      : conn_(conn),
        server_(server),
        upstream_port_(upstream_port),
        max_queued_bytes_(server.hub().options().max_queued_bytes) {
    writer_ = std::thread([this] { WriteLoop(); });
  }
  ~Connection() override { Stop(); }

  bool Send(v1::SignalEvent event) override {
    std::string json = SignalEventToJson(event);
    {
      absl::MutexLock lock(&mu_);
      if (closing_) return false;
      if (queued_bytes_ + json.size() <= max_queued_bytes_) {
        queued_bytes_ += json.size();
        outbox_.push_back(std::move(json));
        return true;
      }
      // Its reader fell behind: telling it would queue behind what it does
      // not read, so it is cut off.
      closing_ = absl::ResourceExhaustedError(
          "the client does not read its events fast enough; reconnect");
      outbox_.clear();
    }
    server_.DropSlowReader(upstream_port_);
    return false;
  }

  void Close(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    if (!closing_) closing_ = status;
  }

  // True once the stream is ending; waits (up to a second) for the writer to
  // send what is queued and the close frame, so that the connection can go.
  bool Closing() {
    absl::MutexLock lock(&mu_);
    if (!closing_) return false;
    const auto flushed = [this] {
      mu_.AssertHeld();
      return close_written_ || stopped_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&flushed), absl::Seconds(1));
    return true;
  }

  // From civetweb's close handler: after this, the connection is gone.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopped_ = true;
    }
    if (writer_.joinable()) writer_.join();
  }

  std::shared_ptr<signal::SignalHub::Stream> stream;
  int upstream_port() const { return upstream_port_; }

 private:
  void WriteLoop() {
    while (true) {
      std::deque<std::string> batch;
      std::optional<absl::Status> closing;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](Connection* self) ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->mu_) {
              return self->stopped_ || !self->outbox_.empty() ||
                     (self->closing_ && !self->close_sent_);
            },
            this));
        if (stopped_) return;
        batch.swap(outbox_);
        if (closing_ && !close_sent_) {
          closing = closing_;
          close_sent_ = true;
        }
      }
      for (const std::string& json : batch) {
        const bool written = mg_websocket_write(conn_, kOpcodeText, json.data(), json.size()) > 0;
        absl::MutexLock lock(&mu_);
        queued_bytes_ -= std::min(queued_bytes_, json.size());
        if (!written) break;
      }
      if (closing) {
        if (!closing->ok()) {
          const std::string last = SignalEventToJson(signal::ErrorEvent(0, *closing));
          mg_websocket_write(conn_, kOpcodeText, last.data(), last.size());
        }
        // Close code 4000 + the gRPC code; the reason fits a control frame.
        const uint16_t code =
            static_cast<uint16_t>(closing->ok() ? 1000 : 4000 + closing->raw_code());
        std::string frame{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
        frame += std::string(closing->message().substr(0, 120));
        mg_websocket_write(conn_, kOpcodeClose, frame.data(), frame.size());
        absl::MutexLock lock(&mu_);
        close_written_ = true;
      }
    }
  }

  mg_connection* const conn_;
  SignalWebSocket& server_;
  const int upstream_port_;
  const size_t max_queued_bytes_;
  absl::Mutex mu_;
  std::deque<std::string> outbox_ ABSL_GUARDED_BY(mu_);
  // Bytes in the outbox and in the batch being written.
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Status> closing_ ABSL_GUARDED_BY(mu_);
  bool close_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool close_written_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread writer_;
};

namespace {

// Waits for the hub to be ready for the next message: this connection's
// thread is its own, and blocking it keeps the messages in order.
void RunAndWait(const std::function<void(absl::AnyInvocable<void() &&>)>& step) {
  absl::Notification ready;
  step([&ready] { ready.Notify(); });
  ready.WaitForNotification();
}

void OnReady(mg_connection* conn, void* data) {
  auto* server = static_cast<SignalWebSocket*>(data);
  signal::SignalHub* hub = &server->hub();
  const int upstream_port = mg_get_request_info(conn)->remote_port;
  auto connection = std::make_shared<SignalWebSocket::Connection>(conn, *server, upstream_port);
  server->Register(upstream_port, connection);
  connection->stream = hub->Open(connection);
  // Owned by the connection until the close handler.
  mg_set_user_connection_data(conn, new std::shared_ptr<SignalWebSocket::Connection>(connection));
  RunAndWait([&](absl::AnyInvocable<void() &&> ready) {
    hub->Begin(connection->stream, BearerFrom(conn), std::move(ready));
  });
}

int OnData(mg_connection* conn, int bits, char* data, size_t size, void* server_data) {
  auto* server = static_cast<SignalWebSocket*>(server_data);
  signal::SignalHub* hub = &server->hub();
  auto* holder =
      static_cast<std::shared_ptr<SignalWebSocket::Connection>*>(mg_get_user_connection_data(conn));
  if (holder == nullptr) return 0;
  SignalWebSocket::Connection& connection = **holder;
  // A stream the hub ended reads nothing more: the connection goes.
  if (connection.Closing()) return 0;
  switch (bits & 0x0F) {
    case kOpcodeText:
      break;
    case kOpcodeClose:
      return 0;
    case kOpcodePing:
      mg_websocket_write(conn, kOpcodePong, data, size);
      return 1;
    case kOpcodePong:
      return 1;
    default:
      connection.Send(signal::ErrorEvent(
          0, absl::InvalidArgumentError("send each request as one JSON text frame")));
      return 1;
  }
  absl::StatusOr<v1::SignalRequest> request =
      SignalRequestFromJson(absl::string_view(data, size), server->max_frame_bytes());
  if (!request.ok()) {
    connection.Send(signal::ErrorEvent(0, request.status()));
    return 1;
  }
  RunAndWait([&](absl::AnyInvocable<void() &&> done) {
    hub->Handle(connection.stream, *std::move(request), std::move(done));
  });
  return connection.Closing() ? 0 : 1;
}

void OnClose(const mg_connection* conn, void* data) {
  auto* server = static_cast<SignalWebSocket*>(data);
  auto* holder =
      static_cast<std::shared_ptr<SignalWebSocket::Connection>*>(mg_get_user_connection_data(conn));
  if (holder == nullptr) return;
  server->Unregister((*holder)->upstream_port());
  (*holder)->Stop();
  server->hub().Closed((*holder)->stream);
  delete holder;
}

}  // namespace

absl::StatusOr<std::unique_ptr<SignalWebSocket>> SignalWebSocket::Start(
    const SignalWebSocketOptions& options, signal::SignalHub& hub) {
  static const bool initialised = [] {
    mg_init_library(MG_FEATURES_WEBSOCKET | MG_FEATURES_IPV6);
    return true;
  }();
  (void)initialised;
  if (options.max_connections < 1 || options.max_connections > 10000) {
    return absl::InvalidArgumentError("--signal-ws-max-connections must be 1 to 10000");
  }
  std::unique_ptr<SignalWebSocket> server(new SignalWebSocket(options, hub));
  // Only the front door talks to civetweb, over loopback.
  const std::string threads = absl::StrCat(options.max_connections + 2);
  const char* civetweb_options[] = {"listening_ports",
                                    "127.0.0.1:0",
                                    "num_threads",
                                    threads.c_str(),
                                    "enable_websocket_ping_pong",
                                    "yes",
                                    "websocket_timeout_ms",
                                    "60000",
                                    "request_timeout_ms",
                                    "10000",
                                    nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = [](const mg_connection*, const char* message) {
    Log()->warn("{}", message);
    return 1;
  };
  server->context_ = mg_start(&callbacks, nullptr, civetweb_options);
  if (server->context_ == nullptr) {
    return absl::InternalError("cannot start the WebSocket server on a loopback port");
  }
  mg_set_websocket_handler(server->context_, kPath, nullptr, OnReady, OnData, OnClose,
                           server.get());
  mg_server_port ports[4] = {};
  if (mg_get_server_ports(server->context_, 4, ports) < 1) {
    return absl::InternalError("the WebSocket server reports no port");
  }
  SignalWebSocket* raw = server.get();
  absl::StatusOr<std::unique_ptr<WebSocketFrontDoor>> front = WebSocketFrontDoor::Start(
      FrontDoorOptions{.listen = absl::StartsWith(options.listen, "localhost:")
                                     ? "127.0.0.1" + options.listen.substr(9)
                                     : options.listen,
                       .upstream_port = ports[0].port,
                       .max_connections = options.max_connections,
                       .max_connections_per_address = options.max_connections_per_address,
                       .max_frame_bytes = options.max_frame_bytes,
                       .tls_cert = options.tls_cert,
                       .tls_key = options.tls_key},
      WebSocketFrontDoor::Hooks{
          .oversized_frame =
              [raw](int upstream_port, uint64_t declared) {
                raw->OnOversizedFrame(upstream_port, declared);
              },
          .refused = [raw](const std::string& reason) { raw->hub_.CountEnd(reason); }});
  if (!front.ok()) return front.status();
  {
    absl::MutexLock lock(&server->mu_);
    server->front_ = *std::move(front);
    server->port_ = server->front_->port();
  }
  Log()->info("serving signalling over WebSocket on {}://{}{} (port {})",
              options.tls_cert.empty() ? "ws" : "wss", options.listen, kPath, server->port());
  return server;
}

SignalWebSocket::~SignalWebSocket() {
  // Clients first: their connections end, and civetweb's with them.
  std::unique_ptr<WebSocketFrontDoor> front;
  {
    absl::MutexLock lock(&mu_);
    front.swap(front_);
  }
  front.reset();
  if (context_ != nullptr) mg_stop(context_);
}

void SignalWebSocket::Register(int upstream_port, const std::shared_ptr<Connection>& connection) {
  absl::MutexLock lock(&mu_);
  connections_[upstream_port] = connection;
}

void SignalWebSocket::Unregister(int upstream_port) {
  absl::MutexLock lock(&mu_);
  connections_.erase(upstream_port);
}

void SignalWebSocket::DropSlowReader(int upstream_port) {
  hub_.CountEnd("slow_reader");
  Log()->info("cutting off a WebSocket client that does not read its events");
  absl::MutexLock lock(&mu_);
  if (front_ != nullptr) front_->Drop(upstream_port);
}

void SignalWebSocket::OnOversizedFrame(int upstream_port, uint64_t declared_bytes) {
  hub_.CountEnd("frame_too_big");
  std::shared_ptr<Connection> connection;
  {
    absl::MutexLock lock(&mu_);
    if (auto found = connections_.find(upstream_port); found != connections_.end()) {
      connection = found->second.lock();
    }
  }
  if (connection == nullptr) return;
  connection->Close(absl::ResourceExhaustedError(absl::StrCat(
      "a frame may be at most ", options_.max_frame_bytes, " bytes; this one declared ",
      declared_bytes, " (--signal-ws-max-frame-bytes)")));
  (void)connection->Closing();  // waits, briefly, for the last words to be written
}

}  // namespace warden::control::services
