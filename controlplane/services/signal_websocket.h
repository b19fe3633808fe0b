#pragma once

// The signalling protocol as JSON over WebSocket, for clients that cannot
// speak gRPC (browsers, small scripts). Each text frame is one SignalRequest
// or SignalEvent in the protobuf JSON mapping. Authentication: the
// `Authorization: Bearer <token>` header of the upgrade request, or an
// `authenticate` message first. A stream that the hub ends gets a last
// `error` event, then a close frame with code 4000 + the gRPC code.
//
// Clients reach a front door (signal_websocket_front.h: TLS, connections
// per address, frame sizes) that passes their bytes to civetweb on a
// loopback port. civetweb gives every WebSocket connection one of its
// worker threads for the connection's life, so `max_connections` sizes that
// pool; the thread reads a message, hands it to the hub and waits for the
// hub to be ready for the next one. Events go out through a queue bounded in
// bytes and a writer thread per connection, so a slow client never holds up
// the hub: one that lets more than max_queued_bytes pile up is cut off.

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/services/signal_websocket_front.h"
#include "controlplane/signal/hub.h"

struct mg_context;

namespace warden::control::services {

struct SignalWebSocketOptions {
  // ws://<listen>/v1/signal ("host:port"; port 0 = any free port); wss://
  // with tls_cert and tls_key (PEM).
  std::string listen;
  int max_connections = 256;
  int max_connections_per_address = 16;
  // The largest frame a client may send; its header is checked before any
  // of it is read.
  uint64_t max_frame_bytes = 64 * 1024;
  std::string tls_cert;
  std::string tls_key;
};

class SignalWebSocket {
 public:
  static absl::StatusOr<std::unique_ptr<SignalWebSocket>> Start(
      const SignalWebSocketOptions& options, signal::SignalHub& hub);
  ~SignalWebSocket();

  int port() const { return port_; }

  class Connection;

  // From civetweb's handlers.
  signal::SignalHub& hub() { return hub_; }
  uint64_t max_frame_bytes() const { return options_.max_frame_bytes; }
  void Register(int upstream_port, const std::shared_ptr<Connection>& connection);
  void Unregister(int upstream_port);
  // A connection's reader fell too far behind: cut it off.
  void DropSlowReader(int upstream_port);

 private:
  SignalWebSocket(SignalWebSocketOptions options, signal::SignalHub& hub)
      : options_(std::move(options)), hub_(hub) {}
  void OnOversizedFrame(int upstream_port, uint64_t declared_bytes);

  const SignalWebSocketOptions options_;
  signal::SignalHub& hub_;
  mg_context* context_ = nullptr;
  int port_ = 0;
  absl::Mutex mu_;
  std::unique_ptr<WebSocketFrontDoor> front_ ABSL_GUARDED_BY(mu_);
  std::map<int, std::weak_ptr<Connection>> connections_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::control::services
