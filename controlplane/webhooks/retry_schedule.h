#pragma once

// When a delivery is tried again: after each failed attempt the next pause
// of the schedule (by default 5 s, 30 s, 2 min, 10 min, 1 h, 6 h, 24 h, a
// little over a day in all), spread by ±20 % so that endpoints coming back
// are not hit by every replica's backlog at once; after the last pause the
// delivery has failed.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden::control::webhooks {

struct RetrySchedule {
  std::vector<absl::Duration> pauses;
};

RetrySchedule DefaultRetrySchedule();
// "5s,30s,2m,10m,1h,6h,24h" (absl durations); INVALID_ARGUMENT otherwise.
absl::StatusOr<RetrySchedule> ParseRetrySchedule(absl::string_view text);
std::string FormatRetrySchedule(const RetrySchedule& schedule);

// After `attempts` failed attempts: the pause before the next one, `jitter`
// in [0, 1) choosing where in ±20 % it falls; nullopt when none is left.
std::optional<absl::Duration> NextPause(const RetrySchedule& schedule, int attempts, double jitter);

// How one attempt ended.
enum class AttemptVerdict { kDelivered, kRetry };

// Any 2xx is delivered; everything else (no answer, 3xx as redirects are
// not followed, 4xx, 5xx) is tried again: an endpoint answering 4xx is
// usually misconfigured for a while, not forever.
AttemptVerdict Judge(int http_status);

}  // namespace warden::control::webhooks
