#include "controlplane/store/limit_columns.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controlplane/store/node_store.h"

namespace warden::control::store {

std::vector<model::LabelCap> LabelCapsFromJson(absl::string_view text) {
  std::vector<model::LabelCap> caps;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_array()) return caps;
  for (const auto& item : json) {
    if (!item.is_object() || !item.contains("label") || !item.contains("max")) continue;
    caps.push_back(
        model::LabelCap{.label = item["label"].get<std::string>(), .max = item["max"].get<int>()});
  }
  return caps;
}

model::NodeSelector NodeSelectorFromJson(absl::string_view text) {
  model::NodeSelector selector;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return selector;
  for (const auto& [key, values] : json.items()) {
    if (!values.is_array()) continue;
    std::vector<std::string>& out = selector[key];
    for (const auto& value : values) {
      if (value.is_string()) out.push_back(value.get<std::string>());
    }
  }
  return selector;
}

absl::string_view PolicyName(model::LimitPolicy policy) {
  return policy == model::LimitPolicy::kReject ? "reject" : "evict_oldest";
}

model::LimitPolicy PolicyFromName(absl::string_view name) {
  return name == "reject" ? model::LimitPolicy::kReject : model::LimitPolicy::kEvictOldest;
}

absl::string_view QuotaActionName(model::QuotaAction action) {
  return action == model::QuotaAction::kThrottle ? "throttle" : "deny";
}

model::QuotaAction QuotaActionFromName(absl::string_view name) {
  return name == "throttle" ? model::QuotaAction::kThrottle : model::QuotaAction::kDeny;
}

std::string LabelCapsJson(const std::vector<model::LabelCap>& caps) {
  nlohmann::json json = nlohmann::json::array();
  for (const model::LabelCap& cap : caps) json.push_back({{"label", cap.label}, {"max", cap.max}});
  return json.dump();
}

std::string NodeSelectorJson(const model::NodeSelector& selector) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [key, values] : selector) json[key] = values;
  return json.dump();
}

std::string ProtocolsCsv(const std::vector<model::Protocol>& protocols) {
  std::vector<std::string> names;
  for (model::Protocol protocol : protocols) names.emplace_back(ProtocolName(protocol));
  return absl::StrJoin(names, ",");
}

model::NodeLabels NodeLabelsFromJson(absl::string_view text) {
  model::NodeLabels labels;
  nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return labels;
  for (const auto& [key, value] : json.items()) {
    if (value.is_string()) labels[key] = value.get<std::string>();
  }
  return labels;
}

std::string NodeLabelsJson(const model::NodeLabels& labels) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& [key, value] : labels) json[key] = value;
  return json.dump();
}

nlohmann::json LimitSetJson(const model::LimitSet& limits) {
  nlohmann::json json = nlohmann::json::object();
  if (limits.max_connections) json["max_connections"] = *limits.max_connections;
  if (limits.limit_policy) json["limit_policy"] = PolicyName(*limits.limit_policy);
  if (limits.grace_seconds) json["grace_seconds"] = *limits.grace_seconds;
  if (limits.bandwidth_bytes_per_second) {
    json["bandwidth_bytes_per_second"] = *limits.bandwidth_bytes_per_second;
  }
  if (limits.max_connections_per_node) {
    json["max_connections_per_node"] = *limits.max_connections_per_node;
  }
  if (limits.label_caps)
    json["label_caps"] = nlohmann::json::parse(LabelCapsJson(*limits.label_caps));
  if (limits.allowed_protocols) json["allowed_protocols"] = ProtocolsCsv(*limits.allowed_protocols);
  if (limits.node_selector) {
    json["node_selector"] = nlohmann::json::parse(NodeSelectorJson(*limits.node_selector));
  }
  if (limits.max_session_seconds) json["max_session_seconds"] = *limits.max_session_seconds;
  if (limits.idle_timeout_seconds) json["idle_timeout_seconds"] = *limits.idle_timeout_seconds;
  if (limits.data_quota_bytes) json["data_quota_bytes"] = *limits.data_quota_bytes;
  if (limits.quota_period_days) json["quota_period_days"] = *limits.quota_period_days;
  if (limits.on_quota_exceeded) {
    json["on_quota_exceeded"] = QuotaActionName(*limits.on_quota_exceeded);
  }
  if (limits.throttle_bytes_per_second) {
    json["throttle_bytes_per_second"] = *limits.throttle_bytes_per_second;
  }
  return json;
}

LimitParams ToParams(const model::LimitSet& limits) {
  LimitParams params;
  params.max_connections = limits.max_connections;
  if (limits.limit_policy) params.limit_policy = std::string(PolicyName(*limits.limit_policy));
  params.grace_seconds = limits.grace_seconds;
  params.bandwidth_bytes_per_second = limits.bandwidth_bytes_per_second;
  params.max_connections_per_node = limits.max_connections_per_node;
  if (limits.label_caps) params.label_caps = LabelCapsJson(*limits.label_caps);
  if (limits.allowed_protocols) params.allowed_protocols = ProtocolsCsv(*limits.allowed_protocols);
  if (limits.node_selector) params.node_selector = NodeSelectorJson(*limits.node_selector);
  params.max_session_seconds = limits.max_session_seconds;
  params.idle_timeout_seconds = limits.idle_timeout_seconds;
  params.data_quota_bytes = limits.data_quota_bytes;
  params.quota_period_days = limits.quota_period_days;
  if (limits.on_quota_exceeded) {
    params.on_quota_exceeded = std::string(QuotaActionName(*limits.on_quota_exceeded));
  }
  params.throttle_bytes_per_second = limits.throttle_bytes_per_second;
  return params;
}

}  // namespace warden::control::store
