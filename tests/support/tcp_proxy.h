#pragma once

// A TCP hop on 127.0.0.1 in front of an upstream port, for as many
// connections as clients open, that a test can misbehave with: hold back
// the upstream's bytes (a client on a link too slow for what it is sent),
// cut every connection at once (a network that drops them mid-call), or
// turn new ones away (a server that is down).

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace warden::testing {

class TcpProxy {
 public:
  explicit TcpProxy(int upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  // While stalled, nothing the upstream sends is read (it backs up); what
  // clients send still goes through.
  void Stall(bool stalled) { stalled_ = stalled; }
  // Shuts both ends of every connection open now. Later connections are
  // carried as before.
  void CutAll();
  // While refusing, a new connection is closed as soon as it is accepted.
  void Refuse(bool refusing) { refusing_ = refusing; }

 private:
  struct Link {
    int client = -1;
    int server = -1;
    std::thread up;
    std::thread down;
  };
  void Accept();
  void Pump(int from, int to, bool stallable);

  const int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stalled_{false};
  std::atomic<bool> refusing_{false};
  std::atomic<bool> stopping_{false};
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Link>> links_ ABSL_GUARDED_BY(mu_);
  std::thread acceptor_;
};

}  // namespace warden::testing
