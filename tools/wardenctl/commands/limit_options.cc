#include "tools/wardenctl/commands/limit_options.h"

#include "absl/strings/ascii.h"

namespace warden::wardenctl {

const std::map<std::string, std::string>& LimitPaths() {
  static const auto* paths = new std::map<std::string, std::string>{
      {"max-connections", "max_connections"},
      {"policy", "limit_policy"},
      {"grace", "grace_seconds"},
      {"bandwidth", "bandwidth_bytes_per_second"},
      {"max-per-node", "max_connections_per_node"},
      {"label-cap", "label_caps"},
      {"protocols", "allowed_protocols"},
      {"node-selector", "node_selector"},
      {"max-session", "max_session_seconds"},
      {"idle-timeout", "idle_timeout_seconds"},
      {"quota", "data_quota_bytes"},
      {"quota-period-days", "quota_period_days"},
      {"on-quota", "on_quota_exceeded"},
      {"throttle", "throttle_bytes_per_second"},
  };
  return *paths;
}

std::vector<std::string> LimitFlagNames() {
  std::vector<std::string> names;
  for (const auto& [flag, path] : LimitPaths()) names.push_back(flag);
  return names;
}

absl::Status ParseLabelCap(absl::string_view text, v1::LabelCap& cap) {
  std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits('=', 1));
  int max = 0;
  if (parts.first.empty() || !absl::SimpleAtoi(parts.second, &max)) {
    return LocalError(absl::StatusCode::kInvalidArgument,
                      absl::StrCat("--label-cap \"", text, "\": say LABEL=N, e.g. region=1"));
  }
  cap.set_label(parts.first);
  cap.set_max(max);
  return absl::OkStatus();
}

absl::Status ParseSelectorTerm(absl::string_view text, v1::NodeSelector& selector) {
  std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits('=', 1));
  if (parts.first.empty() || parts.second.empty()) {
    return LocalError(
        absl::StatusCode::kInvalidArgument,
        absl::StrCat("--node-selector \"", text,
                     "\": say KEY=VALUE or KEY=V1|V2, e.g. region=eu-west|eu-central"));
  }
  v1::LabelValues& values = (*selector.mutable_match())[parts.first];
  for (absl::string_view value : absl::StrSplit(parts.second, '|')) {
    values.add_values(std::string(value));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::QuotaAction> ParseQuotaAction(absl::string_view text) {
  const std::string word = absl::AsciiStrToLower(text);
  if (word == "deny" || word == "quota_deny") return v1::QUOTA_DENY;
  if (word == "throttle" || word == "quota_throttle") return v1::QUOTA_THROTTLE;
  return LocalError(absl::StatusCode::kInvalidArgument,
                    absl::StrCat("--on-quota \"", text, "\": say deny or throttle"));
}

std::string QuotaActionName(v1::QuotaAction action) {
  switch (action) {
    case v1::QUOTA_DENY:
      return "deny";
    case v1::QUOTA_THROTTLE:
      return "throttle";
    default:
      return "";
  }
}

}  // namespace warden::wardenctl
