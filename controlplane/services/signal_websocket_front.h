#pragma once

// The front door of the signalling WebSocket bridge: the socket clients
// connect to. It terminates TLS (GnuTLS), caps connections per client
// address, reads each frame header a client sends and refuses a frame that
// declares more than the limit before a byte of it is buffered, and can cut
// a client off at once. Behind it, civetweb serves the WebSocket protocol on
// a loopback port; each client connection has one thread here that carries
// bytes both ways.
//
// Why not civetweb alone: Debian's civetweb 1.15 allocates and reads a
// whole frame, whatever length its header declares (up to 2 GiB), before
// any handler sees it; it cannot close a connection from another thread;
// and its TLS, built for OpenSSL 1.1, does not load with bookworm's
// OpenSSL 3 (libssl.so has no SSL_get_peer_certificate).

#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace warden::control::services {

// Follows the bytes a WebSocket client sends (the upgrade request, then
// frames) and says what may go on to the server. Pure; one per connection.
class FrameGate {
 public:
  explicit FrameGate(uint64_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  // Appends to `forward` the bytes of `data` that may go on. Returns the
  // declared payload length of the first frame over the limit; nothing of
  // it, nor anything after it, is forwarded, and the gate stays shut.
  std::optional<uint64_t> Feed(const char* data, size_t size, std::string* forward);

 private:
  const uint64_t max_frame_bytes_;
  bool upgraded_ = false;  // past the upgrade request's blank line
  int blank_line_ = 0;     // how much of "\r\n\r\n" was just seen
  unsigned char header_[14] = {};
  size_t header_size_ = 0;  // bytes of the current frame header seen
  uint64_t payload_left_ = 0;
  bool shut_ = false;
};

struct FrontDoorOptions {
  std::string listen;     // host:port; port 0 = any free port
  int upstream_port = 0;  // civetweb, on 127.0.0.1
  int max_connections = 256;
  int max_connections_per_address = 16;
  uint64_t max_frame_bytes = 64 * 1024;
  // PEM files; both empty = plaintext (ws://).
  std::string tls_cert;
  std::string tls_key;
  absl::Duration tls_handshake_timeout = absl::Seconds(10);
};

class WebSocketFrontDoor {
 public:
  struct Hooks {
    // A client declared a frame over the limit. Runs on its connection's
    // thread; when it returns, the server's last words to the client are
    // written (the door then ends the connection). `upstream_port` is the
    // client's remote port as civetweb sees it.
    std::function<void(int upstream_port, uint64_t declared_bytes)> oversized_frame;
    // A connection was refused: "too_many_connections", "too_many_from_address".
    std::function<void(const std::string& reason)> refused;
  };

  static absl::StatusOr<std::unique_ptr<WebSocketFrontDoor>> Start(FrontDoorOptions options,
                                                                   Hooks hooks);
  ~WebSocketFrontDoor();

  int port() const { return port_; }
  bool tls() const { return tls_ != nullptr; }

  // Cuts off the client whose connection reaches civetweb from
  // `upstream_port`, at once (its reader is too slow to be told anything).
  void Drop(int upstream_port);

 private:
  struct Tls;
  struct Link;
  WebSocketFrontDoor(FrontDoorOptions options, Hooks hooks);

  void AcceptLoop();
  void Serve(int client_fd, std::string address, bool over_address_cap);
  void Pump(Link& link);
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const FrontDoorOptions options_;
  const Hooks hooks_;
  std::unique_ptr<Tls> tls_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: wakes the accept loop to stop
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;

  absl::Mutex mu_;
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, int> per_address_ ABSL_GUARDED_BY(mu_);
  std::map<int, Link*> links_ ABSL_GUARDED_BY(mu_);  // by upstream port
  // Connection threads, each with its "finished" flag.
  std::list<std::pair<std::thread, std::shared_ptr<std::atomic<bool>>>> threads_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::control::services
