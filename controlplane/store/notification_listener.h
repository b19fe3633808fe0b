#pragma once

// LISTEN on a dedicated connection and hand each NOTIFY to a callback. The
// connection is re-established when it breaks; notifications sent while it
// was down are lost, so `on_connected` runs after every (re)connect for the
// owner to catch up from the tables themselves.

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace warden::control::store {

class NotificationListener {
 public:
  using Handler = std::function<void(const std::string& channel, const std::string& payload)>;

  NotificationListener(std::string connection_string, std::vector<std::string> channels,
                       Handler handler, std::function<void()> on_connected);
  ~NotificationListener();

  void Start();
  void Stop();
  bool connected() const { return connected_.load(); }

 private:
  void Run();

  const std::string connection_string_;
  const std::vector<std::string> channels_;
  const Handler handler_;
  const std::function<void()> on_connected_;
  std::atomic<bool> connected_{false};
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace warden::control::store
