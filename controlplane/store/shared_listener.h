#pragma once

// One LISTEN connection for a whole replica, shared by the parts that wait
// for notifications (the dispatcher, the credential watch, the signalling
// hub, the webhook senders). PostgreSQL signals every listening backend of
// the database on each NOTIFY, whatever channels it listens on, so every
// listening connection in the fleet costs a backend wake-up per NOTIFY:
// one per replica keeps that at the minimum.
//
// Parts subscribe before Start (the channels are LISTENed on connecting)
// and are told after every (re)connect, as with a listener of their own.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controlplane/store/notification_listener.h"

namespace warden::control::store {

class SharedListener {
 public:
  using Handler = NotificationListener::Handler;

  explicit SharedListener(std::string connection_string, ListenProbe probe = {});
  ~SharedListener();

  SharedListener(const SharedListener&) = delete;
  SharedListener& operator=(const SharedListener&) = delete;

  // Before Start: `handler` gets the notifications of `channels`, and
  // `on_connected` runs after each (re)connect, on the listening thread.
  // Returns the id to Unsubscribe with.
  int Subscribe(std::vector<std::string> channels, Handler handler,
                std::function<void()> on_connected);
  // Once it returns, the subscriber's callbacks are not running and do not
  // run again. Unknown ids are ignored.
  void Unsubscribe(int id);

  void Start();
  void Stop();

 private:
  struct Subscriber {
    int id;
    std::vector<std::string> channels;
    Handler handler;
    std::function<void()> on_connected;
  };
  void Deliver(const std::string& channel, const std::string& payload);
  void Connected();

  const std::string connection_string_;
  const ListenProbe probe_;
  absl::Mutex mu_;
  std::vector<Subscriber> subscribers_ ABSL_GUARDED_BY(mu_);
  int next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<NotificationListener> listener_;
};

}  // namespace warden::control::store
