#include "controlplane/store/notification_listener.h"

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
                                           std::function<void()> on_connected)
    : connection_string_(std::move(connection_string)),
      channels_(std::move(channels)),
      handler_(std::move(handler)),
      on_connected_(std::move(on_connected)) {}

NotificationListener::~NotificationListener() { Stop(); }

void NotificationListener::Start() {
  thread_ = std::thread([this] { Run(); });
}

void NotificationListener::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
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
      pqxx::nontransaction(connection).exec("SELECT 1");
      connected_.store(true);
      backoff = absl::Milliseconds(100);
      Log()->info("listening channels={}", channels_.size());
      on_connected_();
      while (!stop_.HasBeenNotified()) {
        connection.await_notification(0, 200 * 1000);
        if (!connection.is_open()) throw pqxx::broken_connection("listen connection closed");
      }
    } catch (const std::exception& error) {
      if (connected_.exchange(false)) Log()->warn("listen connection lost: {}", error.what());
      if (stop_.WaitForNotificationWithTimeout(backoff)) return;
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
  }
}

}  // namespace warden::control::store
