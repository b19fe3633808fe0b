#include "controlplane/store/notification_listener.h"

#include <sys/socket.h>
#include <unistd.h>

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

// Watches one connection for as long as it lives: talking (the default)
// means the server must answer within the probe timeout; Quiet() lifts
// that while waiting for notifications, which may rightly take forever.
class NotificationListener::Window {
 public:
  Window(NotificationListener& listener, int socket) : listener_(listener) {
    std::lock_guard lock(listener_.watch_mu_);
    listener_.watched_socket_ = ::dup(socket);
    Talk();
  }
  ~Window() {
    std::lock_guard lock(listener_.watch_mu_);
    if (listener_.watched_socket_ >= 0) ::close(listener_.watched_socket_);
    listener_.watched_socket_ = -1;
    listener_.talking_ = false;
  }
  Window(const Window&) = delete;
  Window& operator=(const Window&) = delete;

  // Watched again when `wait` ends, also by an exception: the UNLISTENs on
  // the way out talk to the server.
  template <typename Fn>
  void Quiet(Fn&& wait) {
    {
      std::lock_guard lock(listener_.watch_mu_);
      listener_.talking_ = false;
    }
    struct TalkAgain {
      Window& window;
      ~TalkAgain() {
        std::lock_guard lock(window.listener_.watch_mu_);
        window.Talk();
      }
    } talk_again{*this};
    wait();
  }

 private:
  void Talk() {
    listener_.talking_ = true;
    listener_.answer_due_ = absl::Now() + listener_.probe_.timeout;
  }

  NotificationListener& listener_;
};

void NotificationListener::Start() {
  thread_ = std::thread([this] { Run(); });
  watchdog_ = std::thread([this] { Watch(); });
}

void NotificationListener::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  // The watchdog outlives the listener's thread: leaving (UNLISTEN) talks to
  // the server too, and a hung one must not hold the shutdown.
  if (thread_.joinable()) thread_.join();
  if (!watchdog_stop_.HasBeenNotified()) watchdog_stop_.Notify();
  if (watchdog_.joinable()) watchdog_.join();
}

void NotificationListener::Watch() {
  const absl::Duration tick = std::min(probe_.timeout / 4, absl::Milliseconds(250));
  while (!watchdog_stop_.WaitForNotificationWithTimeout(tick)) {
    std::lock_guard lock(watch_mu_);
    if (watched_socket_ < 0 || !talking_ || absl::Now() < answer_due_) continue;
    // The blocked read returns at once; libpq reports the connection lost.
    ::shutdown(watched_socket_, SHUT_RDWR);
    talking_ = false;
    Log()->warn("listen connection: the server did not answer within {}; it hangs; reconnecting",
                absl::FormatDuration(probe_.timeout));
  }
}

void NotificationListener::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stop_.HasBeenNotified()) {
    try {
      pqxx::connection connection(connection_string_);
      // Watched from here: LISTEN, the first answer, every probe, and the
      // UNLISTENs on the way out.
      Window window(*this, connection.sock());
      std::vector<std::unique_ptr<Receiver>> receivers;
      for (const std::string& channel : channels_) {
        receivers.push_back(std::make_unique<Receiver>(connection, channel, handler_));
      }
      // A first round trip makes the LISTENs effective before catching up.
      auto ping = [&connection] { pqxx::nontransaction(connection).exec("SELECT 1"); };
      ping();
      connected_.store(true);
      backoff = absl::Milliseconds(100);
      Log()->info("listening channels={}", channels_.size());
      window.Quiet(on_connected_);  // catching up may take its time elsewhere
      absl::Time next_probe = absl::Now() + probe_.interval;
      while (!stop_.HasBeenNotified()) {
        window.Quiet([&connection] { connection.await_notification(0, 200 * 1000); });
        if (!connection.is_open()) throw pqxx::broken_connection("listen connection closed");
        if (absl::Now() >= next_probe) {
          ping();
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
