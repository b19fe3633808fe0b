#pragma once

// Traffic as the ledger counts it: the samples nodes report, what they
// add up to, and a user's standing against their data quota. Plain values.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "controlplane/model/policy.h"
#include "controlplane/model/session.h"

namespace warden::control::model {

// A VPN server's byte counters of one session, as its node sampled them:
// totals since the session began there (see agent.proto SessionUsage).
// sequence 0: a sample from a node that does not number them.
struct UsageSample {
  int64_t rx_bytes = 0;  // received from the client (upload)
  int64_t tx_bytes = 0;  // sent to the client (download)
  int64_t sequence = 0;
};

// A sample with the session it is of: by id, else by key on that node.
struct UsageReport {
  std::string node_id;
  std::string session_id;
  std::string session_key;
  UsageSample sample;
};

// Bytes the ledger counted, by user and protocol.
struct TrafficCount {
  std::string user_id;
  Protocol protocol = Protocol::kOpenVpn;
  int64_t rx_bytes = 0;
  int64_t tx_bytes = 0;
};

// A user's quota in the window that contains now, and what was announced
// and enforced of it so far.
struct QuotaStanding {
  std::string user_id;
  int64_t quota_bytes = 0;  // 0: no quota
  int64_t granted_bytes = 0;
  int64_t used_bytes = 0;
  absl::CivilDay window_start;
  int notified_percent = 0;  // 0, 80 or 100
  bool held = false;         // denied or throttled until under the quota again
  int period_days = 0;       // 0: the calendar month
  QuotaAction action = QuotaAction::kDeny;
};

// What a change of standing calls for (usage::JudgeQuota decides it).
struct QuotaVerdict {
  std::vector<int> announce;  // thresholds newly reached, ascending
  int notified_percent = 0;   // the level to record
  bool hold = false;          // reached the quota now
  bool release = false;       // under it again (or no quota any more)

  bool Changes(const QuotaStanding& standing) const {
    return notified_percent != standing.notified_percent || hold || release;
  }
};

// Usage of one period, per protocol and node.
struct UsageRow {
  absl::CivilDay period;  // the day, or the first of the month
  Protocol protocol = Protocol::kOpenVpn;
  std::string node_id;
  std::string node_name;  // "" when the node was removed since
  int64_t rx_bytes = 0;
  int64_t tx_bytes = 0;
};

struct UserTraffic {
  std::string user_id;
  std::string username;
  int64_t rx_bytes = 0;
  int64_t tx_bytes = 0;
};

}  // namespace warden::control::model
