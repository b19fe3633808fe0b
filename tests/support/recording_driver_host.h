#pragma once

// The agent core as a driver sees it, for driver tests: admits everyone but
// the users it was told to refuse, records what the driver reports, and can
// hold admissions to play a control plane that is slow or away.

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/core/driver.h"

namespace warden::testing {

class RecordingDriverHost final : public agent::DriverHost {
 public:
  agent::AdmitAnswer Admit(const agent::AdmitQuery& query) override {
    bool hold = false;
    {
      absl::MutexLock lock(&mu_);
      queries_.push_back(query);
      hold = hold_;
    }
    if (hold) release_.WaitForNotificationWithTimeout(absl::Seconds(30));
    absl::MutexLock lock(&mu_);
    agent::AdmitAnswer answer;
    if (refuse_everyone_ || refused_.contains(query.username)) {
      answer.deny_reason = "DEVICE_LIMIT_REACHED";
      answer.message = "device limit 1 reached";
    } else {
      answer.admitted = true;
      answer.session_id = absl::StrCat("s-", queries_.size());
    }
    return answer;
  }
  void Opened(const std::string& key, const std::string& tunnel) override {
    Record(absl::StrCat("opened ", key, " ", tunnel));
  }
  void Closed(const std::string& key, const std::string& reason, int64_t rx, int64_t tx) override {
    Record(absl::StrCat("closed ", key, " ", reason, " rx=", rx, " tx=", tx));
  }
  void Usage(const std::string& key, int64_t rx, int64_t tx) override {
    Record(absl::StrCat("usage ", key, " rx=", rx, " tx=", tx));
  }

  void Refuse(const std::string& username) {
    absl::MutexLock lock(&mu_);
    refused_.insert(username);
  }
  void Allow(const std::string& username) {
    absl::MutexLock lock(&mu_);
    refused_.erase(username);
  }
  void RefuseEveryone() {
    absl::MutexLock lock(&mu_);
    refuse_everyone_ = true;
  }
  // Admissions wait (up to 30 s) until Release().
  void Hold() {
    absl::MutexLock lock(&mu_);
    hold_ = true;
  }
  void Release() { release_.Notify(); }

  std::vector<std::string> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  bool HasEvent(const std::string& event) {
    absl::MutexLock lock(&mu_);
    return std::find(events_.begin(), events_.end(), event) != events_.end();
  }
  bool HasEventStartingWith(const std::string& prefix) {
    absl::MutexLock lock(&mu_);
    return std::any_of(events_.begin(), events_.end(),
                       [&](const std::string& event) { return absl::StartsWith(event, prefix); });
  }
  std::vector<agent::AdmitQuery> queries() {
    absl::MutexLock lock(&mu_);
    return queries_;
  }
  // Whether the driver asked to admit `session_key` (for `username`, unless "").
  bool Asked(const std::string& session_key, const std::string& username = "") {
    absl::MutexLock lock(&mu_);
    return std::any_of(queries_.begin(), queries_.end(), [&](const agent::AdmitQuery& query) {
      return query.session_key == session_key && (username.empty() || query.username == username);
    });
  }
  // Every event and question, one per line, for failure messages.
  std::string Dump() {
    absl::MutexLock lock(&mu_);
    std::string out;
    for (const agent::AdmitQuery& query : queries_) {
      absl::StrAppend(&out, "  admit? ", query.session_key, " ", query.username, "\n");
    }
    for (const std::string& event : events_) absl::StrAppend(&out, "  ", event, "\n");
    return out;
  }

 private:
  void Record(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }

  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
  std::vector<agent::AdmitQuery> queries_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> refused_ ABSL_GUARDED_BY(mu_);
  bool refuse_everyone_ ABSL_GUARDED_BY(mu_) = false;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  absl::Notification release_;
};

}  // namespace warden::testing
