#pragma once

// LISTEN on a dedicated connection and hand each NOTIFY to a callback. The
// connection is re-established when it breaks; notifications sent while it
// was down are lost, so `on_connected` runs after every (re)connect for the
// owner to catch up from the tables themselves.
//
// A quiet connection and a hung server look the same (a frozen server's
// kernel still acknowledges keepalives), so the listener asks the server a
// question every probe interval; whenever it talks to the server (LISTEN,
// probes, UNLISTEN on the way out) and no answer comes within the probe
// timeout, a watchdog shuts the socket down and the listener reconnects, or
// stops without waiting for the server.

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace warden::control::store {

// How often a listener asks its server a question, and how long it waits for
// the answer before taking the server for hung.
struct ListenProbe {
  absl::Duration interval = absl::Seconds(5);
  absl::Duration timeout = absl::Seconds(5);
};

class NotificationListener {
 public:
  using Handler = std::function<void(const std::string& channel, const std::string& payload)>;
  NotificationListener(std::string connection_string, std::vector<std::string> channels,
                       Handler handler, std::function<void()> on_connected, ListenProbe probe = {});
  ~NotificationListener();

  void Start();
  void Stop();
  bool connected() const { return connected_.load(); }

 private:
  void Run();
  void Watch();
  class Window;

  const std::string connection_string_;
  const std::vector<std::string> channels_;
  const Handler handler_;
  const std::function<void()> on_connected_;
  const ListenProbe probe_;
  std::atomic<bool> connected_{false};
  absl::Notification stop_;
  std::thread thread_;
  std::thread watchdog_;
  absl::Notification watchdog_stop_;  // after thread_ has ended
  // While the listener talks to its server (anything but waiting for
  // notifications), the watchdog shuts `watched_socket_` down once
  // `answer_due_` has passed. The socket is the listener's own duplicate of
  // the connection's, so its number cannot be reused by anyone else while
  // watched.
  std::mutex watch_mu_;
  int watched_socket_ = -1;
  bool talking_ = false;
  absl::Time answer_due_;
};

}  // namespace warden::control::store
