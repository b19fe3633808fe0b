#pragma once

// When a time limit (session length, idleness, account or device expiry)
// ends a live session. Pure: no I/O, no clock reads.

#include <optional>
#include <span>
#include <string>

#include "absl/time/time.h"
#include "controlplane/model/admission.h"
#include "controlplane/model/policy.h"

namespace warden::control::admission {

// Why a time limit ends a live session (as its close reason).
enum class TimeLimit { kMaxSession, kIdle, kAccountExpired, kDeviceExpired };
const char* TimeLimitReason(TimeLimit limit);

// What a session's time limits are computed from.
struct SessionClock {
  absl::Time opened_at;
  std::optional<absl::Time> last_traffic_at = std::nullopt;  // unknown: since it opened
  std::optional<absl::Time> account_expires_at = std::nullopt;
  std::optional<absl::Time> device_expires_at = std::nullopt;
  int max_session_seconds = 0;   // 0 = none
  int idle_timeout_seconds = 0;  // 0 = none
};

// The earliest time one of the limits may end the session; nullopt when
// none applies. (Idle time moves with traffic, so this is when to look
// again, not a verdict.)
std::optional<absl::Time> NextDue(const SessionClock& session);

// The limit that ends the session at `now`, if any; when several do, the
// one that came due first.
std::optional<TimeLimit> DueLimit(const SessionClock& session, absl::Time now);

// A user's policy changed (limits, plan, expiry): the sessions that end now
// (SessionsToEnd: restrictions, and caps under EVICT_OLDEST with
// `cap_reason`), and when each remaining one is next due.
model::LiveSessionsChange ApplyPolicy(const model::UserLimits& limits,
                                      std::span<const model::LiveSession> live,
                                      const std::string& cap_reason);

// A session's time came (the policy sweep claimed it): the limit that ends
// it now (as its close reason), or when to look again.
struct TimeVerdict {
  std::optional<std::string> end_reason;
  std::optional<absl::Time> next_due;
};
TimeVerdict JudgeTimeLimits(const model::UserLimits& limits, const model::LiveSession& session,
                            absl::Time now);

// The clock of a live session under these limits.
SessionClock ClockOf(const model::UserLimits& limits, const model::LiveSession& session);

}  // namespace warden::control::admission
