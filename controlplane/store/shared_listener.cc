#include "controlplane/store/shared_listener.h"

#include <algorithm>
#include <stdexcept>

#include "absl/container/btree_set.h"

namespace warden::control::store {

SharedListener::SharedListener(std::string connection_string, ListenProbe probe)
    : connection_string_(std::move(connection_string)), probe_(probe) {}

SharedListener::~SharedListener() { Stop(); }

int SharedListener::Subscribe(std::vector<std::string> channels, Handler handler,
                              std::function<void()> on_connected) {
  absl::MutexLock lock(&mu_);
  // The channels are LISTENed on connecting: one added later would go
  // unheard.
  if (started_) throw std::logic_error("SharedListener::Subscribe after Start");
  const int id = next_id_++;
  subscribers_.push_back(Subscriber{.id = id,
                                    .channels = std::move(channels),
                                    .handler = std::move(handler),
                                    .on_connected = std::move(on_connected)});
  return id;
}

void SharedListener::Unsubscribe(int id) {
  // Deliveries hold the lock: once it is ours, none is running.
  absl::MutexLock lock(&mu_);
  std::erase_if(subscribers_, [id](const Subscriber& subscriber) { return subscriber.id == id; });
}

void SharedListener::Start() {
  absl::btree_set<std::string> channels;
  {
    absl::MutexLock lock(&mu_);
    if (started_) return;
    started_ = true;
    for (const Subscriber& subscriber : subscribers_) {
      channels.insert(subscriber.channels.begin(), subscriber.channels.end());
    }
  }
  if (channels.empty()) return;
  listener_ = std::make_unique<NotificationListener>(
      connection_string_, std::vector<std::string>(channels.begin(), channels.end()),
      [this](const std::string& channel, const std::string& payload) { Deliver(channel, payload); },
      [this] { Connected(); }, probe_);
  listener_->Start();
}

void SharedListener::Stop() {
  if (listener_) listener_->Stop();
}

void SharedListener::Deliver(const std::string& channel, const std::string& payload) {
  absl::MutexLock lock(&mu_);
  for (const Subscriber& subscriber : subscribers_) {
    if (std::find(subscriber.channels.begin(), subscriber.channels.end(), channel) !=
        subscriber.channels.end()) {
      subscriber.handler(channel, payload);
    }
  }
}

void SharedListener::Connected() {
  absl::MutexLock lock(&mu_);
  for (const Subscriber& subscriber : subscribers_) subscriber.on_connected();
}

}  // namespace warden::control::store
