#include "tools/wardenctl/time_text.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::wardenctl {

absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

std::string ShortDuration(absl::Duration duration) {
  const int64_t seconds = absl::ToInt64Seconds(duration);
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrCat(seconds / 60, "m");
  if (seconds < 48 * 3600) return absl::StrCat(seconds / 3600, "h");
  return absl::StrCat(seconds / 86400, "d");
}

std::string TimeText::Format(const google::protobuf::Timestamp& timestamp) const {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "";
  return Format(FromTimestamp(timestamp));
}

std::string TimeText::Format(absl::Time time) const {
  if (!relative_) return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone());
  const absl::Duration age = now_ - time;
  if (absl::AbsDuration(age) < absl::Seconds(1)) return "just now";
  if (age > absl::ZeroDuration()) return absl::StrCat(ShortDuration(age), " ago");
  return absl::StrCat("in ", ShortDuration(-age));
}

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view text) {
  int64_t seconds = 0;
  if (absl::SimpleAtoi(text, &seconds)) return absl::Seconds(seconds);
  // Days, which Abseil's durations do not spell: "30d".
  int64_t days = 0;
  if (absl::EndsWith(text, "d") && absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) &&
      days >= 0 && days <= 100 * 365) {
    return absl::Hours(24 * days);
  }
  absl::Duration duration;
  if (absl::ParseDuration(text, &duration) && duration >= absl::ZeroDuration()) return duration;
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", text, "\" is not a duration (say 90s, 10m, 1h30m, 30d or a number of seconds)"));
}

absl::StatusOr<absl::Time> ParseTimeFlag(absl::string_view text, absl::Time now) {
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) return time;
  absl::StatusOr<absl::Duration> ago = ParseDurationFlag(text);
  if (ago.ok()) return now - *ago;
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", text, "\" is neither an RFC 3339 time (2026-12-04T22:51:12Z) nor a duration ago (1h)"));
}

absl::StatusOr<absl::Time> ParseFutureTimeFlag(absl::string_view text, absl::Time now) {
  absl::Time time;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, std::string(text), &time, &error)) return time;
  absl::StatusOr<absl::Duration> ahead = ParseDurationFlag(text);
  if (ahead.ok()) return now + *ahead;
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", text, "\" is neither an RFC 3339 time (2027-01-31T00:00:00Z) nor a duration (30d)"));
}

}  // namespace warden::wardenctl
