#include "controlplane/admission/policy.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "controlplane/admission/seats.h"

namespace warden::control::admission {
namespace {

// Each limit's due time, in the order they are reported when due together.
std::vector<std::pair<absl::Time, TimeLimit>> Deadlines(const SessionClock& session) {
  std::vector<std::pair<absl::Time, TimeLimit>> due;
  if (session.account_expires_at)
    due.emplace_back(*session.account_expires_at, TimeLimit::kAccountExpired);
  if (session.device_expires_at)
    due.emplace_back(*session.device_expires_at, TimeLimit::kDeviceExpired);
  if (session.max_session_seconds > 0) {
    due.emplace_back(session.opened_at + absl::Seconds(session.max_session_seconds),
                     TimeLimit::kMaxSession);
  }
  if (session.idle_timeout_seconds > 0) {
    const absl::Time active =
        std::max(session.opened_at, session.last_traffic_at.value_or(session.opened_at));
    due.emplace_back(active + absl::Seconds(session.idle_timeout_seconds), TimeLimit::kIdle);
  }
  std::stable_sort(due.begin(), due.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return due;
}

}  // namespace

const char* TimeLimitReason(TimeLimit limit) {
  switch (limit) {
    case TimeLimit::kMaxSession:
      return "max_session";
    case TimeLimit::kIdle:
      return "idle";
    case TimeLimit::kAccountExpired:
      return "account_expired";
    case TimeLimit::kDeviceExpired:
      return "device_expired";
  }
  return "policy";
}

std::optional<absl::Time> NextDue(const SessionClock& session) {
  std::vector<std::pair<absl::Time, TimeLimit>> due = Deadlines(session);
  if (due.empty()) return std::nullopt;
  return due.front().first;
}

std::optional<TimeLimit> DueLimit(const SessionClock& session, absl::Time now) {
  for (const auto& [at, limit] : Deadlines(session)) {
    if (at <= now) return limit;
  }
  return std::nullopt;
}

SessionClock ClockOf(const model::UserLimits& limits, const model::LiveSession& session) {
  return SessionClock{.opened_at = session.opened_at,
                      .last_traffic_at = session.last_traffic_at,
                      .account_expires_at = limits.expires_at,
                      .device_expires_at = session.device_expires_at,
                      .max_session_seconds = limits.max_session_seconds,
                      .idle_timeout_seconds = limits.idle_timeout_seconds};
}

TimeVerdict JudgeTimeLimits(const model::UserLimits& limits, const model::LiveSession& session,
                            absl::Time now) {
  const SessionClock clock = ClockOf(limits, session);
  if (std::optional<TimeLimit> due = DueLimit(clock, now)) {
    return TimeVerdict{.end_reason = TimeLimitReason(*due), .next_due = std::nullopt};
  }
  return TimeVerdict{.end_reason = std::nullopt, .next_due = NextDue(clock)};
}

model::LiveSessionsChange ApplyPolicy(const model::UserLimits& limits,
                                      std::span<const model::LiveSession> live,
                                      const std::string& cap_reason) {
  model::LiveSessionsChange change;
  change.end = SessionsToEnd(limits, live, cap_reason, "policy_changed");
  for (const model::LiveSession& session : live) {
    if (session.closing) continue;
    bool ending = false;
    for (const auto& [id, reason] : change.end) ending = ending || id == session.id;
    if (!ending) change.due.emplace_back(session.id, NextDue(ClockOf(limits, session)));
  }
  return change;
}

}  // namespace warden::control::admission
