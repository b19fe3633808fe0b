#pragma once

// A LimitSet as table columns (plans, and users' own overrides share the
// same fourteen): how they are selected, read and written. NULL = unset.

#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "controlplane/model/policy.h"

namespace warden::control::store {

// The fourteen columns of table alias `t` (allowed_protocols as two), in
// LimitSetFromRow's order.
#define WARDEN_LIMIT_COLUMNS(t)                                                               \
  t ".max_connections, " t ".limit_policy, " t ".grace_seconds, " t                           \
    ".bandwidth_bytes_per_second, " t ".max_connections_per_node, " t ".label_caps::text, " t \
    ".allowed_protocols IS NOT NULL, array_to_string(" t ".allowed_protocols, ','), " t       \
    ".node_selector::text, " t ".max_session_seconds, " t ".idle_timeout_seconds, " t         \
    ".data_quota_bytes, " t ".quota_period_days, " t ".on_quota_exceeded, " t                 \
    ".throttle_bytes_per_second"
inline constexpr int kLimitColumns = 15;

std::vector<model::LabelCap> LabelCapsFromJson(absl::string_view text);
model::NodeSelector NodeSelectorFromJson(absl::string_view text);
model::LimitPolicy PolicyFromName(absl::string_view name);
model::QuotaAction QuotaActionFromName(absl::string_view name);
std::optional<model::Protocol> ProtocolFromName(absl::string_view name);  // node_store.cc

template <typename T, typename Field>
std::optional<T> OptionalField(const Field& field) {
  if (field.is_null()) return std::nullopt;
  return field.template as<T>();
}

// Reads the columns selected by WARDEN_LIMIT_COLUMNS starting at `first`, of
// a pqxx::row or a TextRow.
template <typename Row>
model::LimitSet LimitSetFromRow(const Row& row, int first) {
  model::LimitSet limits;
  limits.max_connections = OptionalField<int>(row[first]);
  if (!row[first + 1].is_null()) {
    limits.limit_policy = PolicyFromName(row[first + 1].template as<std::string>());
  }
  limits.grace_seconds = OptionalField<int>(row[first + 2]);
  limits.bandwidth_bytes_per_second = OptionalField<int64_t>(row[first + 3]);
  limits.max_connections_per_node = OptionalField<int>(row[first + 4]);
  if (!row[first + 5].is_null()) limits.label_caps = LabelCapsFromJson(row[first + 5].c_str());
  if (row[first + 6].template as<bool>()) {
    std::vector<model::Protocol> protocols;
    for (absl::string_view name :
         absl::StrSplit(row[first + 7].template as<std::string>(), ',', absl::SkipEmpty())) {
      if (auto protocol = ProtocolFromName(name)) protocols.push_back(*protocol);
    }
    limits.allowed_protocols = std::move(protocols);
  }
  if (!row[first + 8].is_null()) {
    limits.node_selector = NodeSelectorFromJson(row[first + 8].c_str());
  }
  limits.max_session_seconds = OptionalField<int>(row[first + 9]);
  limits.idle_timeout_seconds = OptionalField<int>(row[first + 10]);
  limits.data_quota_bytes = OptionalField<int64_t>(row[first + 11]);
  limits.quota_period_days = OptionalField<int>(row[first + 12]);
  if (!row[first + 13].is_null()) {
    limits.on_quota_exceeded = QuotaActionFromName(row[first + 13].template as<std::string>());
  }
  limits.throttle_bytes_per_second = OptionalField<int64_t>(row[first + 14]);
  return limits;
}

// One limit as a statement parameter: NULL when unset. Protocols travel as
// a comma-separated list ("" = the empty set: any), label caps and node
// selectors as JSON.
struct LimitParams {
  std::optional<int> max_connections;
  std::optional<std::string> limit_policy;
  std::optional<int> grace_seconds;
  std::optional<int64_t> bandwidth_bytes_per_second;
  std::optional<int> max_connections_per_node;
  std::optional<std::string> label_caps;
  std::optional<std::string> allowed_protocols;
  std::optional<std::string> node_selector;
  std::optional<int> max_session_seconds;
  std::optional<int> idle_timeout_seconds;
  std::optional<int64_t> data_quota_bytes;
  std::optional<int> quota_period_days;
  std::optional<std::string> on_quota_exceeded;
  std::optional<int64_t> throttle_bytes_per_second;
};
LimitParams ToParams(const model::LimitSet& limits);

absl::string_view PolicyName(model::LimitPolicy policy);
absl::string_view QuotaActionName(model::QuotaAction action);

std::string LabelCapsJson(const std::vector<model::LabelCap>& caps);
// The limits that are set, as a JSON object (for audit events).
nlohmann::json LimitSetJson(const model::LimitSet& limits);
std::string NodeSelectorJson(const model::NodeSelector& selector);
std::string ProtocolsCsv(const std::vector<model::Protocol>& protocols);
model::NodeLabels NodeLabelsFromJson(absl::string_view json);
std::string NodeLabelsJson(const model::NodeLabels& labels);

}  // namespace warden::control::store
