#include "controlplane/dispatch/event_feed.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace warden::control::dispatch {
namespace {

constexpr int kBatch = 500;

}  // namespace

EventFeed::EventFeed(store::AuditStore& audit, CredentialWatch& credentials,
                     EventFeedOptions options)
    : audit_(audit), credentials_(credentials), options_(options) {}

EventFeed::~EventFeed() { Stop(); }

void EventFeed::Start() {
  thread_ = std::thread([this] { Run(); });
}

void EventFeed::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<int64_t> EventFeed::Subscribe(std::shared_ptr<EventSink> sink,
                                             model::AuditFilter filter, int64_t after_id,
                                             model::Credential credential) {
  const std::string principal = credential.principal;
  {
    absl::MutexLock lock(&mu_);
    if (per_principal_[principal] >= options_.max_watchers_per_principal) {
      return absl::ResourceExhaustedError(absl::StrCat(
          principal, " already has ", options_.max_watchers_per_principal,
          " WatchEvents streams on this replica (--max-watchers-per-key); close one first"));
    }
  }
  int64_t cursor = after_id;
  if (cursor == 0) {
    absl::StatusOr<int64_t> newest = audit_.MaxId();
    if (!newest.ok()) return newest.status();
    cursor = *newest;
  }
  absl::MutexLock lock(&mu_);
  // Checked again: others may have subscribed while the database answered.
  int& watchers = per_principal_[principal];
  if (watchers >= options_.max_watchers_per_principal) {
    return absl::ResourceExhaustedError(absl::StrCat(
        principal, " already has ", options_.max_watchers_per_principal,
        " WatchEvents streams on this replica (--max-watchers-per-key); close one first"));
  }
  ++watchers;
  const int64_t id = next_id_++;
  const int64_t watch = credentials_.Watch(std::move(credential),
                                           [sink](const absl::Status& why) { sink->End(why); });
  subscriptions_[id] = Subscription{.sink = std::move(sink),
                                    .filter = std::move(filter),
                                    .cursor = cursor,
                                    .principal = principal,
                                    .watch = watch};
  return id;
}

void EventFeed::Unsubscribe(int64_t subscription) {
  absl::MutexLock lock(&mu_);
  if (auto it = subscriptions_.find(subscription); it != subscriptions_.end()) Erase(it);
}

void EventFeed::Erase(std::map<int64_t, Subscription>::iterator it) {
  credentials_.Forget(it->second.watch);
  if (auto count = per_principal_.find(it->second.principal);
      count != per_principal_.end() && --count->second <= 0) {
    per_principal_.erase(count);
  }
  subscriptions_.erase(it);
}

void EventFeed::Run() {
  absl::Time next_heartbeat = absl::Now() + options_.heartbeat_interval;
  // The newest id as of the poll before: events up to it are settled.
  int64_t settled = 0;
  while (!stop_.WaitForNotificationWithTimeout(options_.poll_interval)) {
    absl::StatusOr<int64_t> newest = audit_.MaxId();
    if (!newest.ok()) continue;  // the database is away; try again next round
    std::vector<std::pair<int64_t, Subscription>> snapshot;
    {
      absl::MutexLock lock(&mu_);
      snapshot.assign(subscriptions_.begin(), subscriptions_.end());
    }
    const bool beat = absl::Now() >= next_heartbeat;
    if (beat) next_heartbeat = absl::Now() + options_.heartbeat_interval;
    for (auto& [id, subscription] : snapshot) {
      int64_t cursor = subscription.cursor;
      bool keep = true;
      if (cursor < *newest) {
        absl::StatusOr<std::vector<model::AuditEvent>> events =
            audit_.After(subscription.filter, cursor, *newest, kBatch);
        if (!events.ok()) continue;
        for (const model::AuditEvent& event : *events) {
          if (!(keep = subscription.sink->Deliver(event))) break;
          cursor = event.id;
        }
        // Nothing else up to `newest` matches: skip what the filter skips.
        if (keep && events->size() < static_cast<size_t>(kBatch)) {
          cursor = std::max(cursor, std::min(*newest, settled));
        }
      }
      if (keep && beat) subscription.sink->Heartbeat();
      absl::MutexLock lock(&mu_);
      auto it = subscriptions_.find(id);
      if (it == subscriptions_.end()) continue;
      if (!keep) {
        Erase(it);
      } else {
        it->second.cursor = cursor;
      }
    }
    settled = *newest;
  }
}

}  // namespace warden::control::dispatch
