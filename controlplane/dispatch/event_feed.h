#pragma once

// Audit events as they are written, for WatchEvents. Every replica follows
// the audit table itself (a cursor per watcher, polled), so events written
// through any replica reach watchers on every replica, and a watcher can
// resume from the last event id it saw.

#include <map>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "controlplane/model/audit.h"
#include "controlplane/store/audit_store.h"

namespace warden::control::dispatch {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // False: the watcher is gone or fell behind; stop feeding it.
  virtual bool Deliver(const model::AuditEvent& event) = 0;
  virtual void Heartbeat() = 0;
};

class EventFeed {
 public:
  EventFeed(store::AuditStore& audit, absl::Duration poll_interval,
            absl::Duration heartbeat_interval);
  ~EventFeed();

  void Start();
  void Stop();

  // Blocking (database). after_id 0 = only events from now on. Returns the
  // subscription id for Unsubscribe.
  absl::StatusOr<int64_t> Subscribe(std::shared_ptr<EventSink> sink, model::AuditFilter filter,
                                    int64_t after_id);
  void Unsubscribe(int64_t subscription);

 private:
  struct Subscription {
    std::shared_ptr<EventSink> sink;
    model::AuditFilter filter;
    int64_t cursor = 0;
  };
  void Run();

  store::AuditStore& audit_;
  const absl::Duration poll_interval_;
  const absl::Duration heartbeat_interval_;
  absl::Mutex mu_;
  std::map<int64_t, Subscription> subscriptions_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace warden::control::dispatch
