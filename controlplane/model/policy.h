#pragma once

// The limits operators sell: a plan is a named LimitSet, a user's own
// LimitSet overrides the plan's where set, and admission::ResolvePolicy
// turns both into the one EffectivePolicy that admission and enforcement
// use. Plain values: no behaviour, no I/O.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controlplane/model/session.h"

namespace warden::control::model {

enum class LimitPolicy { kEvictOldest, kReject };

// What a user whose data quota is used up gets: no new session, or a
// session at the throttle rate (QUIC tunnels only: Warden shapes its own
// endpoint per user, not WireGuard or OpenVPN, whose sessions are ended).
enum class QuotaAction { kDeny, kThrottle };

// At most `max` live sessions per distinct value of a node label, e.g.
// {label: "region", max: 1}: one session per region.
struct LabelCap {
  std::string label;
  int max = 0;
  bool operator==(const LabelCap&) const = default;
};

// Label key → the values a node may have for it. A node matches when, for
// every key, its label has one of the values. Empty: every node.
using NodeSelector = std::map<std::string, std::vector<std::string>>;

// Node labels: key → value (region=eu-west).
using NodeLabels = std::map<std::string, std::string>;

// Limits of which every one may be unset: a plan's, or a user's own.
struct LimitSet {
  std::optional<int> max_connections;  // 0 = unlimited
  std::optional<LimitPolicy> limit_policy;
  std::optional<int> grace_seconds;
  std::optional<int64_t> bandwidth_bytes_per_second;  // 0 = unlimited
  std::optional<int> max_connections_per_node;        // 0 = unlimited
  std::optional<std::vector<LabelCap>> label_caps;
  std::optional<std::vector<Protocol>> allowed_protocols;  // empty = any
  std::optional<NodeSelector> node_selector;               // empty = any node
  std::optional<int> max_session_seconds;                  // 0 = no limit
  std::optional<int> idle_timeout_seconds;                 // 0 = no limit
  std::optional<int64_t> data_quota_bytes;                 // rx + tx per period; 0 = none
  std::optional<int> quota_period_days;                    // 0 = calendar month (UTC)
  std::optional<QuotaAction> on_quota_exceeded;
  std::optional<int64_t> throttle_bytes_per_second;
};

struct Plan {
  std::string id;
  std::string name;
  std::string description;
  LimitSet limits;
  absl::Time created_at;
  absl::Time updated_at;
  int64_t users = 0;  // filled by reads: users on the plan
};

// Where an effective limit came from.
enum class LimitSource { kDefault, kPlan, kUser };

template <typename T>
struct Resolved {
  T value{};
  LimitSource source = LimitSource::kDefault;
};

// What applies to a user: every limit set, each with its origin.
struct EffectivePolicy {
  Resolved<int> max_connections;
  Resolved<LimitPolicy> limit_policy{.value = LimitPolicy::kEvictOldest};
  Resolved<int> grace_seconds;
  Resolved<int64_t> bandwidth_bytes_per_second;
  Resolved<int> max_connections_per_node;
  Resolved<std::vector<LabelCap>> label_caps;
  Resolved<std::vector<Protocol>> allowed_protocols;
  Resolved<NodeSelector> node_selector;
  Resolved<int> max_session_seconds;
  Resolved<int> idle_timeout_seconds;
  Resolved<int64_t> data_quota_bytes;
  Resolved<int> quota_period_days;
  Resolved<QuotaAction> on_quota_exceeded{.value = QuotaAction::kDeny};
  Resolved<int64_t> throttle_bytes_per_second;  // 0 = none set: a throttle denies
  std::string plan_name;                        // "" without a plan
};

}  // namespace warden::control::model
