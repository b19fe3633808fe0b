#include "controlplane/webhooks/retry_schedule.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace warden::control::webhooks {

RetrySchedule DefaultRetrySchedule() {
  return RetrySchedule{{absl::Seconds(5), absl::Seconds(30), absl::Minutes(2), absl::Minutes(10),
                        absl::Hours(1), absl::Hours(6), absl::Hours(24)}};
}

absl::StatusOr<RetrySchedule> ParseRetrySchedule(absl::string_view text) {
  RetrySchedule schedule;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    absl::Duration pause;
    if (!absl::ParseDuration(absl::StripAsciiWhitespace(part), &pause) ||
        pause <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "retry schedule: \"", part, "\" is not a positive duration (like 5s, 2m, 1h)"));
    }
    schedule.pauses.push_back(pause);
  }
  if (schedule.pauses.empty()) {
    return absl::InvalidArgumentError("retry schedule: at least one pause, like \"5s,30s,2m\"");
  }
  return schedule;
}

std::string FormatRetrySchedule(const RetrySchedule& schedule) {
  return absl::StrJoin(schedule.pauses, ",", [](std::string* out, absl::Duration pause) {
    absl::StrAppend(out, absl::FormatDuration(pause));
  });
}

std::optional<absl::Duration> NextPause(const RetrySchedule& schedule, int attempts,
                                        double jitter) {
  if (attempts < 1 || attempts > static_cast<int>(schedule.pauses.size())) return std::nullopt;
  const absl::Duration pause = schedule.pauses[static_cast<size_t>(attempts - 1)];
  return pause * (0.8 + 0.4 * jitter);
}

AttemptVerdict Judge(int http_status) {
  return http_status >= 200 && http_status < 300 ? AttemptVerdict::kDelivered
                                                 : AttemptVerdict::kRetry;
}

}  // namespace warden::control::webhooks
