#pragma once

// Times and durations as an operator reads and types them.

#include <google/protobuf/timestamp.pb.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace warden::wardenctl {

// How timestamps are shown: relative to `now` ("3m ago", "in 9m") for a
// person at a terminal, RFC 3339 in UTC ("2026-12-04T22:51:12Z") for
// everything else, so that piped output sorts and parses.
class TimeText {
 public:
  TimeText(absl::Time now, bool relative) : now_(now), relative_(relative) {}

  // "" for an unset timestamp (the table shows "-").
  std::string Format(const google::protobuf::Timestamp& timestamp) const;
  std::string Format(absl::Time time) const;

 private:
  absl::Time now_;
  bool relative_;
};

// "42s", "3m", "5h", "12d": the largest whole unit, as in `kubectl get`.
std::string ShortDuration(absl::Duration duration);

absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp);

// A duration flag: "90s", "10m", "1h30m", or plain seconds ("600").
absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view text);

// A point in time for --since/--until: RFC 3339, or a duration before `now`
// ("1h" = an hour ago).
absl::StatusOr<absl::Time> ParseTimeFlag(absl::string_view text, absl::Time now);
// A point in time for --expires: RFC 3339, or a duration from `now` ("30d").
absl::StatusOr<absl::Time> ParseFutureTimeFlag(absl::string_view text, absl::Time now);

}  // namespace warden::wardenctl
