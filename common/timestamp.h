#pragma once

// absl::Time as google.protobuf.Timestamp, to the microsecond (what
// PostgreSQL keeps), for every layer that fills messages.

#include <google/protobuf/timestamp.pb.h>

#include "absl/time/time.h"

namespace warden {

inline void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(time);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {  // before 1970: nanos stay non-negative
    rest += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

}  // namespace warden
