#pragma once

// Audit events as they are written, for WatchEvents. Every replica follows
// the audit table itself (a cursor per watcher, polled), so events written
// through any replica reach watchers on every replica, and a watcher can
// resume from the last event id it saw.
//
// Each poll reads the newest id once, then each watcher's matching events
// up to it. A watcher's cursor moves past the events its filter skips, so no
// row is read twice for it; it moves only as far as the newest id of the
// poll before, so that an event whose transaction was still open one poll
// interval ago is not passed over unseen.

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "controlplane/dispatch/credential_watch.h"
#include "controlplane/model/audit.h"
#include "controlplane/model/credential.h"
#include "controlplane/store/audit_store.h"

namespace warden::control::dispatch {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // False: the watcher is gone or fell behind; stop feeding it.
  virtual bool Deliver(const model::AuditEvent& event) = 0;
  virtual void Heartbeat() = 0;
  // The watcher's credential ended (see CredentialWatch): end its stream
  // with `why`.
  virtual void End(const absl::Status& why) = 0;
};

struct EventFeedOptions {
  absl::Duration poll_interval = absl::Milliseconds(200);
  absl::Duration heartbeat_interval = absl::Seconds(15);
  // Watchers one principal (API key) may have on this replica at once.
  int max_watchers_per_principal = 8;
};

class EventFeed {
 public:
  EventFeed(store::AuditStore& audit, CredentialWatch& credentials, EventFeedOptions options);
  ~EventFeed();

  void Start();
  void Stop();

  // Blocking (database). after_id 0 = only events from now on. Returns the
  // subscription id for Unsubscribe; RESOURCE_EXHAUSTED when the
  // credential's principal has max_watchers_per_principal already. The
  // subscription ends (sink->End) when `credential` does.
  absl::StatusOr<int64_t> Subscribe(std::shared_ptr<EventSink> sink, model::AuditFilter filter,
                                    int64_t after_id, model::Credential credential);
  void Unsubscribe(int64_t subscription);

 private:
  struct Subscription {
    std::shared_ptr<EventSink> sink;
    model::AuditFilter filter;
    int64_t cursor = 0;
    std::string principal;
    int64_t watch = 0;  // in credentials_
  };
  void Run();
  void Erase(std::map<int64_t, Subscription>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  store::AuditStore& audit_;
  CredentialWatch& credentials_;
  const EventFeedOptions options_;
  absl::Mutex mu_;
  std::map<int64_t, Subscription> subscriptions_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> per_principal_ ABSL_GUARDED_BY(mu_);
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace warden::control::dispatch
