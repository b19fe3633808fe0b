#include "controlplane/usage/quota_rule.h"

namespace warden::control::usage {

int QuotaLevel(int64_t used_bytes, int64_t limit_bytes) {
  if (limit_bytes <= 0) return 0;
  if (used_bytes >= limit_bytes) return 100;
  // used/limit >= 80 %, without overflowing on quotas near the int64 limit.
  const __int128 used = used_bytes;
  if (used * 100 >= static_cast<__int128>(limit_bytes) * kWarnPercent) return kWarnPercent;
  return 0;
}

model::QuotaVerdict JudgeQuota(const model::QuotaStanding& standing) {
  model::QuotaVerdict verdict;
  const int level = standing.quota_bytes > 0
                        ? QuotaLevel(standing.used_bytes,
                                     standing.quota_bytes + standing.granted_bytes)
                        : 0;
  for (int threshold : {kWarnPercent, 100}) {
    if (standing.notified_percent < threshold && threshold <= level) {
      verdict.announce.push_back(threshold);
    }
  }
  verdict.notified_percent = level;
  verdict.hold = level == 100 && !standing.held;
  verdict.release = level < 100 && standing.held;
  return verdict;
}

}  // namespace warden::control::usage
