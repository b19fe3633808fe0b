#pragma once

// When a user's traffic crosses their quota: which thresholds to announce
// (quota.threshold at 80 % and 100 %), and whether to hold the user (deny or
// throttle, per the policy) or let them go again. Pure: the standing in,
// the verdict out. Levels follow usage both ways, so a rolling window that
// frees bytes, a new month, a reset or a grant lowers them again, and the
// next climb is announced anew.

#include "controlplane/model/usage.h"

namespace warden::control::usage {

inline constexpr int kWarnPercent = 80;

// The level usage reached: 0, kWarnPercent or 100.
int QuotaLevel(int64_t used_bytes, int64_t limit_bytes);

model::QuotaVerdict JudgeQuota(const model::QuotaStanding& standing);

}  // namespace warden::control::usage
