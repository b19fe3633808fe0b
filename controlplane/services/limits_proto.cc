#include "controlplane/services/limits_proto.h"

#include <set>

#include "absl/functional/function_ref.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {
namespace {

constexpr int kMaxLabels = 32;
constexpr int kMaxLabelCaps = 16;
constexpr int kMaxSelectorValues = 64;
constexpr int kMinTimeLimitSeconds = 60;
constexpr int kMaxTimeLimitSeconds = 366 * 86400;
constexpr int kMaxQuotaPeriodDays = 366;
// 1 EiB: beyond any period's traffic, and far from overflowing a sum.
constexpr int64_t kMaxDataQuotaBytes = int64_t{1} << 60;

// What an administrator reads next to a THROTTLE policy: only Warden's own
// QUIC endpoint can slow one user down.
constexpr char kThrottleNote[] =
    "throttling applies to QUIC tunnels; WireGuard and OpenVPN sessions over quota are ended";

absl::Status Invalid(absl::string_view field, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", rule));
}

absl::Status ValidateLabelKey(absl::string_view field, absl::string_view key) {
  bool valid = !key.empty() && key.size() <= 63 && absl::ascii_isalnum(key[0]);
  for (char c : key) {
    valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '/' || c == '-');
  }
  if (!valid) {
    return Invalid(field, absl::StrCat("key \"", key.substr(0, 64),
                                       "\" must be 1-63 characters of a-z, 0-9, '.', '_', '/', "
                                       "'-', starting with a letter or digit"));
  }
  return absl::OkStatus();
}

absl::Status ValidateLabelValue(absl::string_view field, absl::string_view value) {
  if (value.empty() || value.size() > 63) {
    return Invalid(field, "values must be 1-63 characters");
  }
  return ValidateText(field, value, 63, true);
}

absl::Status ValidateTimeLimit(absl::string_view field, int64_t seconds) {
  if (seconds < kMinTimeLimitSeconds || seconds > kMaxTimeLimitSeconds) {
    return Invalid(field, absl::StrCat("must be between ", kMinTimeLimitSeconds, " and ",
                                       kMaxTimeLimitSeconds, " seconds; got ", seconds));
  }
  return absl::OkStatus();
}

absl::StatusOr<model::QuotaAction> ParseQuotaAction(absl::string_view field, int value) {
  switch (value) {
    case v1::QUOTA_DENY:
      return model::QuotaAction::kDeny;
    case v1::QUOTA_THROTTLE:
      return model::QuotaAction::kThrottle;
    default:
      return Invalid(field, absl::StrCat("must be QUOTA_DENY or QUOTA_THROTTLE; got ", value));
  }
}

// Both messages name the limits alike; this reads them from either, those
// `wanted` (all, or an update mask's).
template <typename Message>
absl::StatusOr<model::LimitSet> ReadLimits(
    absl::string_view prefix, const Message& m,
    absl::FunctionRef<bool(absl::string_view)> wanted = [](absl::string_view) { return true; }) {
  model::LimitSet limits;
  auto field = [&](absl::string_view name) { return absl::StrCat(prefix, ".", name); };
  if (m.has_max_connections() && wanted("max_connections")) {
    WARDEN_RETURN_IF_ERROR(ValidateMaxConnections(field("max_connections"), m.max_connections()));
    limits.max_connections = m.max_connections();
  }
  if (m.has_limit_policy() && wanted("limit_policy")) {
    WARDEN_ASSIGN_OR_RETURN(limits.limit_policy,
                            ParseLimitPolicy(field("limit_policy"), m.limit_policy(),
                                             /*allow_unspecified=*/false));
  }
  if (m.has_grace_seconds() && wanted("grace_seconds")) {
    WARDEN_RETURN_IF_ERROR(ValidateGraceSeconds(field("grace_seconds"), m.grace_seconds()));
    limits.grace_seconds = m.grace_seconds();
  }
  if (m.has_bandwidth_bytes_per_second() && wanted("bandwidth_bytes_per_second")) {
    WARDEN_RETURN_IF_ERROR(
        ValidateBandwidth(field("bandwidth_bytes_per_second"), m.bandwidth_bytes_per_second()));
    limits.bandwidth_bytes_per_second = m.bandwidth_bytes_per_second();
  }
  if (m.has_max_connections_per_node() && wanted("max_connections_per_node")) {
    WARDEN_RETURN_IF_ERROR(
        ValidateMaxConnections(field("max_connections_per_node"), m.max_connections_per_node()));
    limits.max_connections_per_node = m.max_connections_per_node();
  }
  if (m.has_label_caps() && wanted("label_caps")) {
    const std::string name = field("label_caps");
    if (m.label_caps().caps_size() > kMaxLabelCaps) {
      return Invalid(name, absl::StrCat("may hold at most ", kMaxLabelCaps, " caps"));
    }
    std::vector<model::LabelCap> caps;
    std::set<std::string> seen;
    for (const v1::LabelCap& cap : m.label_caps().caps()) {
      WARDEN_RETURN_IF_ERROR(ValidateLabelKey(name, cap.label()));
      if (!seen.insert(cap.label()).second) {
        return Invalid(name, absl::StrCat("names label \"", cap.label(), "\" twice"));
      }
      if (cap.max() < 1 || cap.max() > kMaxConnectionsLimit) {
        return Invalid(name, absl::StrCat("max must be between 1 and ", kMaxConnectionsLimit,
                                          "; got ", cap.max()));
      }
      caps.push_back(model::LabelCap{.label = cap.label(), .max = cap.max()});
    }
    limits.label_caps = std::move(caps);
  }
  if (m.has_allowed_protocols() && wanted("allowed_protocols")) {
    WARDEN_ASSIGN_OR_RETURN(
        limits.allowed_protocols,
        ParseProtocols(field("allowed_protocols"), m.allowed_protocols().protocols()));
  }
  if (m.has_node_selector() && wanted("node_selector")) {
    const std::string name = field("node_selector");
    if (m.node_selector().match_size() > kMaxLabels) {
      return Invalid(name, absl::StrCat("may name at most ", kMaxLabels, " labels"));
    }
    model::NodeSelector selector;
    for (const auto& [key, values] : m.node_selector().match()) {
      WARDEN_RETURN_IF_ERROR(ValidateLabelKey(name, key));
      if (values.values_size() == 0 || values.values_size() > kMaxSelectorValues) {
        return Invalid(name, absl::StrCat("label \"", key, "\" must list 1 to ", kMaxSelectorValues,
                                          " values"));
      }
      for (const std::string& value : values.values()) {
        WARDEN_RETURN_IF_ERROR(ValidateLabelValue(name, value));
        selector[key].push_back(value);
      }
    }
    limits.node_selector = std::move(selector);
  }
  if (m.has_max_session_seconds() && wanted("max_session_seconds")) {
    WARDEN_RETURN_IF_ERROR(
        ValidateTimeLimit(field("max_session_seconds"), m.max_session_seconds()));
    limits.max_session_seconds = m.max_session_seconds();
  }
  if (m.has_idle_timeout_seconds() && wanted("idle_timeout_seconds")) {
    WARDEN_RETURN_IF_ERROR(
        ValidateTimeLimit(field("idle_timeout_seconds"), m.idle_timeout_seconds()));
    limits.idle_timeout_seconds = m.idle_timeout_seconds();
  }
  if (m.has_data_quota_bytes() && wanted("data_quota_bytes")) {
    if (m.data_quota_bytes() < 0 || m.data_quota_bytes() > kMaxDataQuotaBytes) {
      return Invalid(field("data_quota_bytes"),
                     absl::StrCat("must be between 0 (no quota) and ", kMaxDataQuotaBytes,
                                  " bytes; got ", m.data_quota_bytes()));
    }
    limits.data_quota_bytes = m.data_quota_bytes();
  }
  if (m.has_quota_period_days() && wanted("quota_period_days")) {
    if (m.quota_period_days() < 0 || m.quota_period_days() > kMaxQuotaPeriodDays) {
      return Invalid(field("quota_period_days"),
                     absl::StrCat("must be between 0 (the calendar month) and ",
                                  kMaxQuotaPeriodDays, " days; got ", m.quota_period_days()));
    }
    limits.quota_period_days = m.quota_period_days();
  }
  if (m.has_on_quota_exceeded() && wanted("on_quota_exceeded")) {
    WARDEN_ASSIGN_OR_RETURN(limits.on_quota_exceeded,
                            ParseQuotaAction(field("on_quota_exceeded"), m.on_quota_exceeded()));
  }
  if (m.has_throttle_bytes_per_second() && wanted("throttle_bytes_per_second")) {
    const int64_t rate = m.throttle_bytes_per_second();
    if (rate < kMinBandwidth || rate > kMaxBandwidth) {
      return Invalid(field("throttle_bytes_per_second"),
                     absl::StrCat("must be between ", kMinBandwidth, " and ", kMaxBandwidth,
                                  " bytes per second; got ", rate));
    }
    limits.throttle_bytes_per_second = rate;
  }
  return limits;
}

template <typename Message>
absl::StatusOr<model::LimitChanges> ReadLimitChanges(absl::string_view prefix, const Message& m,
                                                     const google::protobuf::FieldMask& mask) {
  model::LimitChanges changes;
  for (const std::string& path : mask.paths()) {
    for (const char* limit : model::kLimitFields) {
      if (path == limit && !changes.Touches(path)) changes.fields.push_back(path);
    }
  }
  // Fields outside the mask are ignored, whatever they hold.
  WARDEN_ASSIGN_OR_RETURN(changes.values, ReadLimits(prefix, m, [&](absl::string_view name) {
                            return changes.Touches(name);
                          }));
  return changes;
}

template <typename Message>
void WriteLimits(const model::LimitSet& limits, Message* out) {
  if (limits.max_connections) out->set_max_connections(*limits.max_connections);
  if (limits.limit_policy) out->set_limit_policy(ToProto(*limits.limit_policy));
  if (limits.grace_seconds) out->set_grace_seconds(*limits.grace_seconds);
  if (limits.bandwidth_bytes_per_second) {
    out->set_bandwidth_bytes_per_second(*limits.bandwidth_bytes_per_second);
  }
  if (limits.max_connections_per_node) {
    out->set_max_connections_per_node(*limits.max_connections_per_node);
  }
  if (limits.label_caps) {
    v1::LabelCaps* caps = out->mutable_label_caps();
    for (const model::LabelCap& cap : *limits.label_caps) {
      v1::LabelCap* added = caps->add_caps();
      added->set_label(cap.label);
      added->set_max(cap.max);
    }
  }
  if (limits.allowed_protocols) {
    v1::ProtocolSet* set = out->mutable_allowed_protocols();
    for (model::Protocol protocol : *limits.allowed_protocols)
      set->add_protocols(ToProto(protocol));
  }
  if (limits.node_selector) {
    v1::NodeSelector* selector = out->mutable_node_selector();
    for (const auto& [key, values] : *limits.node_selector) {
      for (const std::string& value : values) (*selector->mutable_match())[key].add_values(value);
    }
  }
  if (limits.max_session_seconds) out->set_max_session_seconds(*limits.max_session_seconds);
  if (limits.idle_timeout_seconds) out->set_idle_timeout_seconds(*limits.idle_timeout_seconds);
  if (limits.data_quota_bytes) out->set_data_quota_bytes(*limits.data_quota_bytes);
  if (limits.quota_period_days) out->set_quota_period_days(*limits.quota_period_days);
  if (limits.on_quota_exceeded) out->set_on_quota_exceeded(ToProto(*limits.on_quota_exceeded));
  if (limits.throttle_bytes_per_second) {
    out->set_throttle_bytes_per_second(*limits.throttle_bytes_per_second);
  }
}

const char* SourceName(model::LimitSource source) {
  switch (source) {
    case model::LimitSource::kUser:
      return "user";
    case model::LimitSource::kPlan:
      return "plan";
    case model::LimitSource::kDefault:
      return "default";
  }
  return "default";
}

}  // namespace

absl::StatusOr<model::LimitSet> LimitsFromProto(absl::string_view prefix, const v1::User& message) {
  return ReadLimits(prefix, message);
}
absl::StatusOr<model::LimitSet> LimitsFromProto(absl::string_view prefix, const v1::Plan& message) {
  return ReadLimits(prefix, message);
}
absl::StatusOr<model::LimitChanges> LimitChangesFromProto(absl::string_view prefix,
                                                          const v1::User& message,
                                                          const google::protobuf::FieldMask& mask) {
  return ReadLimitChanges(prefix, message, mask);
}
absl::StatusOr<model::LimitChanges> LimitChangesFromProto(absl::string_view prefix,
                                                          const v1::Plan& message,
                                                          const google::protobuf::FieldMask& mask) {
  return ReadLimitChanges(prefix, message, mask);
}
void LimitsToProto(const model::LimitSet& limits, v1::User* out) { WriteLimits(limits, out); }
void LimitsToProto(const model::LimitSet& limits, v1::Plan* out) { WriteLimits(limits, out); }

void ToProto(const model::EffectivePolicy& policy, v1::EffectivePolicy* out) {
  auto& sources = *out->mutable_sources();
  out->set_max_connections(policy.max_connections.value);
  sources["max_connections"] = SourceName(policy.max_connections.source);
  out->set_limit_policy(ToProto(policy.limit_policy.value));
  sources["limit_policy"] = SourceName(policy.limit_policy.source);
  out->set_grace_seconds(policy.grace_seconds.value);
  sources["grace_seconds"] = SourceName(policy.grace_seconds.source);
  out->set_bandwidth_bytes_per_second(policy.bandwidth_bytes_per_second.value);
  sources["bandwidth_bytes_per_second"] = SourceName(policy.bandwidth_bytes_per_second.source);
  out->set_max_connections_per_node(policy.max_connections_per_node.value);
  sources["max_connections_per_node"] = SourceName(policy.max_connections_per_node.source);
  for (const model::LabelCap& cap : policy.label_caps.value) {
    v1::LabelCap* added = out->add_label_caps();
    added->set_label(cap.label);
    added->set_max(cap.max);
  }
  sources["label_caps"] = SourceName(policy.label_caps.source);
  for (model::Protocol protocol : policy.allowed_protocols.value) {
    out->add_allowed_protocols(ToProto(protocol));
  }
  sources["allowed_protocols"] = SourceName(policy.allowed_protocols.source);
  for (const auto& [key, values] : policy.node_selector.value) {
    for (const std::string& value : values) {
      (*out->mutable_node_selector()->mutable_match())[key].add_values(value);
    }
  }
  sources["node_selector"] = SourceName(policy.node_selector.source);
  out->set_max_session_seconds(policy.max_session_seconds.value);
  sources["max_session_seconds"] = SourceName(policy.max_session_seconds.source);
  out->set_idle_timeout_seconds(policy.idle_timeout_seconds.value);
  sources["idle_timeout_seconds"] = SourceName(policy.idle_timeout_seconds.source);
  out->set_data_quota_bytes(policy.data_quota_bytes.value);
  sources["data_quota_bytes"] = SourceName(policy.data_quota_bytes.source);
  out->set_quota_period_days(policy.quota_period_days.value);
  sources["quota_period_days"] = SourceName(policy.quota_period_days.source);
  out->set_on_quota_exceeded(ToProto(policy.on_quota_exceeded.value));
  sources["on_quota_exceeded"] = SourceName(policy.on_quota_exceeded.source);
  out->set_throttle_bytes_per_second(policy.throttle_bytes_per_second.value);
  sources["throttle_bytes_per_second"] = SourceName(policy.throttle_bytes_per_second.source);
  if (policy.on_quota_exceeded.value == model::QuotaAction::kThrottle) {
    out->set_quota_note(kThrottleNote);
  }
  out->set_plan(policy.plan_name);
}

void ToProto(const model::Plan& plan, v1::Plan* out) {
  out->set_id(plan.id);
  out->set_name(plan.name);
  out->set_description(plan.description);
  WriteLimits(plan.limits, out);
  out->set_users(plan.users);
  ToProto(plan.created_at, out->mutable_created_at());
  ToProto(plan.updated_at, out->mutable_updated_at());
}

absl::StatusOr<model::NodeLabels> NodeLabelsFromProto(
    absl::string_view field, const google::protobuf::Map<std::string, std::string>& labels) {
  if (labels.size() > kMaxLabels) {
    return Invalid(field, absl::StrCat("may hold at most ", kMaxLabels, " labels"));
  }
  model::NodeLabels out;
  for (const auto& [key, value] : labels) {
    WARDEN_RETURN_IF_ERROR(ValidateLabelKey(field, key));
    WARDEN_RETURN_IF_ERROR(ValidateLabelValue(field, value));
    out[key] = value;
  }
  return out;
}

absl::Status ValidatePlanName(absl::string_view field, absl::string_view name) {
  bool valid = !name.empty() && name.size() <= 63 && absl::ascii_isalnum(name[0]);
  for (char c : name) {
    valid = valid &&
            ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-');
  }
  if (!valid) {
    return Invalid(field,
                   "must be 1-63 characters of a-z, 0-9, '.', '_', '-', starting with a letter "
                   "or digit");
  }
  return absl::OkStatus();
}

}  // namespace warden::control::services
