#include "controlplane/store/notification_listener.h"

#include <sys/socket.h>

#include <memory>
#include <pqxx/pqxx>

#include "common/logging.h"

namespace warden::control::store {
namespace {

const logging::Logger Log("control.listen");

class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& connection, const std::string& channel,
           const NotificationListener::Handler& handler)
      : pqxx::notification_receiver(connection, channel), handler_(handler) {}
  void operator()(const std::string& payload, int) override { handler_(channel(), payload); }

 private:
  const NotificationListener::Handler& handler_;
};

}  // namespace

NotificationListener::NotificationListener(std::string connection_string,
                                           std::vector<std::string> channels, Handler handler,
                                           std::function<void()> on_connected, ListenProbe probe)
    : connection_string_(std::move(connection_string)),
      channels_(std::move(channels)),
      handler_(std::move(handler)),
      on_connected_(std::move(on_connected)),
      probe_(probe) {}

NotificationListener::~NotificationListener() { Stop(); }

void NotificationListener::Start() {
  thread_ = std::thread([this] { Run(); });
  watchdog_ = std::thread([this] { Watch(); });
}

void NotificationListener::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
  if (watchdog_.joinable()) watchdog_.join();
}

void NotificationListener::Ask(int socket, const std::function<void()>& query) {
  {
    std::lock_guard lock(asking_mu_);
    asking_socket_ = socket;
    answer_due_ = absl::Now() + probe_.timeout;
  }
  struct Answered {
    NotificationListener& listener;
    ~Answered() {
      std::lock_guard lock(listener.asking_mu_);
      listener.asking_socket_ = -1;
    }
  } answered{*this};
  query();
}

void NotificationListener::Watch() {
  const absl::Duration tick = std::min(probe_.timeout / 4, absl::Milliseconds(250));
  while (!stop_.WaitForNotificationWithTimeout(tick)) {
    std::lock_guard lock(asking_mu_);
    if (asking_socket_ < 0 || absl::Now() < answer_due_) continue;
    // The blocked read returns at once; libpq reports the connection lost.
    ::shutdown(asking_socket_, SHUT_RDWR);
    asking_socket_ = -1;
    Log()->warn("listen connection: the server did not answer within {}; it hangs; reconnecting",
                absl::FormatDuration(probe_.timeout));
  }
}

void NotificationListener::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stop_.HasBeenNotified()) {
    try {
      pqxx::connection connection(connection_string_);
      std::vector<std::unique_ptr<Receiver>> receivers;
      for (const std::string& channel : channels_) {
        receivers.push_back(std::make_unique<Receiver>(connection, channel, handler_));
      }
      // A first round trip makes the LISTENs effective before catching up.
      auto ping = [&connection] { pqxx::nontransaction(connection).exec("SELECT 1"); };
      Ask(connection.sock(), ping);
      connected_.store(true);
      backoff = absl::Milliseconds(100);
      Log()->info("listening channels={}", channels_.size());
      on_connected_();
      absl::Time next_probe = absl::Now() + probe_.interval;
      while (!stop_.HasBeenNotified()) {
        connection.await_notification(0, 200 * 1000);
        if (!connection.is_open()) throw pqxx::broken_connection("listen connection closed");
        if (absl::Now() >= next_probe) {
          Ask(connection.sock(), ping);
          next_probe = absl::Now() + probe_.interval;
        }
      }
    } catch (const std::exception& error) {
      if (connected_.exchange(false)) Log()->warn("listen connection lost: {}", error.what());
      if (stop_.WaitForNotificationWithTimeout(backoff)) return;
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
  }
}

}  // namespace warden::control::store
