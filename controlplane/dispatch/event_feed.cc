#include "controlplane/dispatch/event_feed.h"

#include <vector>

namespace warden::control::dispatch {
namespace {

constexpr int kBatch = 500;

}  // namespace

EventFeed::EventFeed(store::AuditStore& audit, absl::Duration poll_interval,
                     absl::Duration heartbeat_interval)
    : audit_(audit), poll_interval_(poll_interval), heartbeat_interval_(heartbeat_interval) {}

EventFeed::~EventFeed() { Stop(); }

void EventFeed::Start() {
  thread_ = std::thread([this] { Run(); });
}

void EventFeed::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int64_t> EventFeed::Subscribe(std::shared_ptr<EventSink> sink,
                                             model::AuditFilter filter, int64_t after_id) {
  int64_t cursor = after_id;
  if (cursor == 0) {
    absl::StatusOr<int64_t> newest = audit_.MaxId();
    if (!newest.ok()) return newest.status();
    cursor = *newest;
  }
  absl::MutexLock lock(&mu_);
  const int64_t id = next_id_++;
  subscriptions_[id] =
      Subscription{.sink = std::move(sink), .filter = std::move(filter), .cursor = cursor};
  return id;
}

void EventFeed::Unsubscribe(int64_t subscription) {
  absl::MutexLock lock(&mu_);
  subscriptions_.erase(subscription);
}

void EventFeed::Run() {
  absl::Time next_heartbeat = absl::Now() + heartbeat_interval_;
  while (!stop_.WaitForNotificationWithTimeout(poll_interval_)) {
    std::vector<std::pair<int64_t, Subscription>> snapshot;
    {
      absl::MutexLock lock(&mu_);
      snapshot.assign(subscriptions_.begin(), subscriptions_.end());
    }
    const bool beat = absl::Now() >= next_heartbeat;
    if (beat) next_heartbeat = absl::Now() + heartbeat_interval_;
    for (auto& [id, subscription] : snapshot) {
      absl::StatusOr<std::vector<model::AuditEvent>> events =
          audit_.After(subscription.filter, subscription.cursor, kBatch);
      if (!events.ok()) continue;  // the database is away; try again next round
      bool keep = true;
      int64_t cursor = subscription.cursor;
      for (const model::AuditEvent& event : *events) {
        if (!(keep = subscription.sink->Deliver(event))) break;
        cursor = event.id;
      }
      if (keep && beat) subscription.sink->Heartbeat();
      absl::MutexLock lock(&mu_);
      auto it = subscriptions_.find(id);
      if (it == subscriptions_.end()) continue;
      if (!keep) {
        subscriptions_.erase(it);
      } else {
        it->second.cursor = cursor;
      }
    }
  }
}

}  // namespace warden::control::dispatch
