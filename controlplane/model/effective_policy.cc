#include "controlplane/model/effective_policy.h"

#include <algorithm>
#include <utility>

namespace warden::control::model {
namespace {

template <typename T>
void Resolve(const std::optional<T>& user, const std::optional<T>& plan, T fallback,
             Resolved<T>& out) {
  if (user) {
    out = {.value = *user, .source = LimitSource::kUser};
  } else if (plan) {
    out = {.value = *plan, .source = LimitSource::kPlan};
  } else {
    out = {.value = std::move(fallback), .source = LimitSource::kDefault};
  }
}

}  // namespace

EffectivePolicy ResolvePolicy(const LimitSet& user, const LimitSet* plan,
                              const std::string& plan_name) {
  static const LimitSet kNone;
  const LimitSet& p = plan != nullptr ? *plan : kNone;
  EffectivePolicy effective;
  Resolve(user.max_connections, p.max_connections, 0, effective.max_connections);
  Resolve(user.limit_policy, p.limit_policy, LimitPolicy::kEvictOldest, effective.limit_policy);
  Resolve(user.grace_seconds, p.grace_seconds, 0, effective.grace_seconds);
  Resolve(user.bandwidth_bytes_per_second, p.bandwidth_bytes_per_second, int64_t{0},
          effective.bandwidth_bytes_per_second);
  Resolve(user.max_connections_per_node, p.max_connections_per_node, 0,
          effective.max_connections_per_node);
  Resolve(user.label_caps, p.label_caps, {}, effective.label_caps);
  Resolve(user.allowed_protocols, p.allowed_protocols, {}, effective.allowed_protocols);
  Resolve(user.node_selector, p.node_selector, {}, effective.node_selector);
  Resolve(user.max_session_seconds, p.max_session_seconds, 0, effective.max_session_seconds);
  Resolve(user.idle_timeout_seconds, p.idle_timeout_seconds, 0, effective.idle_timeout_seconds);
  Resolve(user.data_quota_bytes, p.data_quota_bytes, int64_t{0}, effective.data_quota_bytes);
  Resolve(user.quota_period_days, p.quota_period_days, 0, effective.quota_period_days);
  Resolve(user.on_quota_exceeded, p.on_quota_exceeded, QuotaAction::kDeny,
          effective.on_quota_exceeded);
  Resolve(user.throttle_bytes_per_second, p.throttle_bytes_per_second, int64_t{0},
          effective.throttle_bytes_per_second);
  effective.plan_name = plan != nullptr ? plan_name : "";
  return effective;
}

bool NodeMatches(const NodeSelector& selector, const NodeLabels& labels) {
  for (const auto& [key, values] : selector) {
    auto label = labels.find(key);
    if (label == labels.end()) return false;
    if (std::find(values.begin(), values.end(), label->second) == values.end()) return false;
  }
  return true;
}

UserLimits LimitsOf(const EffectivePolicy& policy, bool disabled,
                    std::optional<absl::Time> expires_at) {
  return UserLimits{.max_connections = policy.max_connections.value,
                    .policy = policy.limit_policy.value,
                    .grace_seconds = policy.grace_seconds.value,
                    .disabled = disabled,
                    .max_connections_per_node = policy.max_connections_per_node.value,
                    .label_caps = policy.label_caps.value,
                    .allowed_protocols = policy.allowed_protocols.value,
                    .node_selector = policy.node_selector.value,
                    .expires_at = expires_at,
                    .max_session_seconds = policy.max_session_seconds.value,
                    .idle_timeout_seconds = policy.idle_timeout_seconds.value,
                    .bandwidth_bytes_per_second = policy.bandwidth_bytes_per_second.value,
                    .data_quota_bytes = policy.data_quota_bytes.value,
                    .quota_period_days = policy.quota_period_days.value,
                    .on_quota_exceeded = policy.on_quota_exceeded.value,
                    .throttle_bytes_per_second = policy.throttle_bytes_per_second.value};
}

}  // namespace warden::control::model
