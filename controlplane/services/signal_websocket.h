#pragma once

// The signalling protocol as JSON over WebSocket, for clients that cannot
// speak gRPC (browsers, small scripts). Each text frame is one SignalRequest
// or SignalEvent in the protobuf JSON mapping. Authentication: the
// `Authorization: Bearer <token>` header of the upgrade request, or an
// `authenticate` message first. A stream that the hub ends gets a last
// `error` event, then a close frame with code 4000 + the gRPC code.
//
// civetweb gives every WebSocket connection one of its worker threads for
// the connection's life, so `max_connections` sizes that pool; the thread
// reads a message, hands it to the hub and waits for the hub to be ready for
// the next one. Events go out through a bounded queue and a writer thread
// per connection, so a slow client never holds up the hub.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "controlplane/signal/hub.h"

struct mg_context;

namespace warden::control::services {

class SignalWebSocket {
 public:
  // Serves ws://<listen>/v1/signal ("host:port"; port 0 = any free port).
  static absl::StatusOr<std::unique_ptr<SignalWebSocket>> Start(const std::string& listen,
                                                                int max_connections,
                                                                signal::SignalHub& hub);
  ~SignalWebSocket();

  int port() const { return port_; }

  class Connection;

 private:
  explicit SignalWebSocket(signal::SignalHub& hub) : hub_(hub) {}

  signal::SignalHub& hub_;
  mg_context* context_ = nullptr;
  int port_ = 0;
};

}  // namespace warden::control::services
