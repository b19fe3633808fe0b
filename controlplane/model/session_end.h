#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace warden::control::model {

// Why a session ended: one code of a fixed list (stored on the session,
// shown by ListSessions, a metrics label and part of every session event),
// and the sentence for the person whose tunnel it was.
struct SessionEnd {
  std::string code;
  std::string message;
};

// The codes. A session ends at most once; the first reason given wins.
namespace end_reason {
inline constexpr char kClient[] = "client";      // the client hung up
inline constexpr char kReplaced[] = "replaced";  // the same key connected again
inline constexpr char kEvicted[] = "evicted";    // a newer device took its seat
inline constexpr char kKilledByAdmin[] = "killed_by_admin";
inline constexpr char kEndedByUser[] = "ended_by_user";  // AccountService.EndMySession
inline constexpr char kUserDisabled[] = "user_disabled";
inline constexpr char kPasswordChanged[] = "password_changed";
inline constexpr char kLimitLowered[] = "limit_lowered";
inline constexpr char kPolicyChanged[] = "policy_changed";  // plan, protocols, nodes allowed
inline constexpr char kMaxSession[] = "max_session";
inline constexpr char kIdle[] = "idle";
inline constexpr char kAccountExpired[] = "account_expired";
inline constexpr char kDeviceExpired[] = "device_expired";
inline constexpr char kDeviceRevoked[] = "device_revoked";
inline constexpr char kQuotaExceeded[] = "quota_exceeded";
inline constexpr char kLogout[] = "logout";
inline constexpr char kFamilyRevoked[] = "family_revoked";
inline constexpr char kReplayDetected[] = "replay_detected";
inline constexpr char kNodeDrained[] = "node_drained";
inline constexpr char kNodeLost[] = "node_lost";  // its node was unheard too long
inline constexpr char kNodeRemoved[] = "node_removed";
inline constexpr char kLostOnNode[] = "lost_on_node";  // gone from the node's inventory
inline constexpr char kNotAdmissible[] = "not_admissible";
inline constexpr char kAdmissionAbandoned[] = "admission_abandoned";
}  // namespace end_reason

// A session end whose code is also the sentence (Warden's own reasons).
inline SessionEnd EndBecause(absl::string_view code) {
  return SessionEnd{std::string(code), std::string(code)};
}

}  // namespace warden::control::model
