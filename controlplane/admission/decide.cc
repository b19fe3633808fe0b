#include "controlplane/admission/decide.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::control::admission {
namespace {

Decision Deny(DenyReason reason, std::string message) {
  Decision decision;
  decision.reason = reason;
  decision.message = std::move(message);
  return decision;
}

// Oldest first; ties broken by id so every replica picks the same victims.
bool OlderThan(const LiveSession* a, const LiveSession* b) {
  if (a->opened_at != b->opened_at) return a->opened_at < b->opened_at;
  return a->id < b->id;
}

}  // namespace

Decision Decide(const UserLimits& limits, std::span<const LiveSession> live, bool node_draining,
                absl::Time now) {
  if (node_draining) {
    return Deny(DenyReason::kNodeDraining,
                "this server is draining for maintenance; connect to another server");
  }
  if (limits.disabled) return Deny(DenyReason::kUserDisabled, "this account is disabled");

  Decision admitted;
  admitted.admit = true;
  admitted.kill_due = now + absl::Seconds(limits.grace_seconds);
  if (limits.max_connections == 0) return admitted;

  std::vector<const LiveSession*> active;
  for (const LiveSession& session : live) {
    if (!session.closing) active.push_back(&session);
  }
  const int limit = limits.max_connections;
  if (static_cast<int>(active.size()) < limit) return admitted;

  std::sort(active.begin(), active.end(), OlderThan);
  if (limits.policy == model::LimitPolicy::kReject) {
    std::vector<std::string> nodes;
    for (const LiveSession* session : active) nodes.push_back(session->node_name);
    return Deny(DenyReason::kDeviceLimitReached,
                absl::StrCat("device limit ", limit, " reached: active on ",
                             nodes.size() == 1 ? "node " : "nodes ", absl::StrJoin(nodes, ", ")));
  }
  // Just enough of the oldest to leave room for the new one.
  const size_t excess = active.size() - static_cast<size_t>(limit) + 1;
  for (size_t i = 0; i < excess; ++i) admitted.evict.push_back(active[i]->id);
  return admitted;
}

}  // namespace warden::control::admission
