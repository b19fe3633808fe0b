#include "controlplane/admission/quota.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace warden::control::admission {

bool QuotaUsedUp(const model::UserLimits& limits, const model::QuotaFacts& quota) {
  if (limits.data_quota_bytes <= 0) return false;
  // Saturating: a grant near INT64_MAX must not wrap the limit negative.
  const int64_t allowed = quota.granted_bytes > INT64_MAX - limits.data_quota_bytes
                              ? INT64_MAX
                              : limits.data_quota_bytes + quota.granted_bytes;
  return quota.used_bytes >= allowed;
}

std::optional<int64_t> ThrottledBandwidth(const model::UserLimits& limits,
                                          model::Protocol protocol) {
  if (limits.on_quota_exceeded != model::QuotaAction::kThrottle) return std::nullopt;
  if (protocol != model::Protocol::kQuic || limits.throttle_bytes_per_second <= 0) {
    return std::nullopt;
  }
  if (limits.bandwidth_bytes_per_second > 0) {
    return std::min(limits.bandwidth_bytes_per_second, limits.throttle_bytes_per_second);
  }
  return limits.throttle_bytes_per_second;
}

std::string QuotaUsedUpMessage(const model::UserLimits& limits, const model::QuotaFacts& quota) {
  const std::string at =
      absl::FormatTime("%Y-%m-%d %H:%M UTC", quota.frees_up_at, absl::UTCTimeZone());
  if (limits.quota_period_days == 0) {
    return absl::StrCat("your data quota is used up; it resets on ", at);
  }
  return absl::StrCat("your data quota is used up; usage older than ", limits.quota_period_days,
                      limits.quota_period_days == 1 ? " day" : " days", " frees up from ", at);
}

std::string QuotaUsedUpDetail(const model::UserLimits& limits, const model::QuotaFacts& quota) {
  return absl::StrCat("used ", quota.used_bytes, " of ", limits.data_quota_bytes, " bytes (+",
                      quota.granted_bytes, " granted)", quota.held ? ", held by enforcement" : "");
}

}  // namespace warden::control::admission
