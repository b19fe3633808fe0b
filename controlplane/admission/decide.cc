#include "controlplane/admission/decide.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace warden::control::admission {
namespace {

Decision Deny(DenyReason reason, std::string message, std::string detail = "") {
  Decision decision;
  decision.reason = reason;
  decision.message = std::move(message);
  decision.detail = std::move(detail);
  return decision;
}

// Oldest first; ties broken by id so every replica picks the same victims.
bool OlderThan(const LiveSession* a, const LiveSession* b) {
  if (a->opened_at != b->opened_at) return a->opened_at < b->opened_at;
  return a->id < b->id;
}

// The seats a user holds: sessions not being killed, and those whose kill
// failed (their tunnels are still up). Only the former can be evicted.
struct Seats {
  std::vector<const LiveSession*> evictable;  // oldest first
  std::vector<const LiveSession*> held;       // kill failed, oldest first
  size_t count() const { return evictable.size() + held.size(); }
};

Seats SeatsOf(std::span<const LiveSession> live) {
  Seats seats;
  for (const LiveSession& session : live) {
    if (!session.closing) {
      seats.evictable.push_back(&session);
    } else if (session.kill_failed) {
      seats.held.push_back(&session);
    }
  }
  std::sort(seats.evictable.begin(), seats.evictable.end(), OlderThan);
  std::sort(seats.held.begin(), seats.held.end(), OlderThan);
  return seats;
}

std::string NodesHolding(const Seats& seats) {
  std::vector<const LiveSession*> all = seats.evictable;
  all.insert(all.end(), seats.held.begin(), seats.held.end());
  std::sort(all.begin(), all.end(), OlderThan);
  std::vector<std::string> nodes;
  for (const LiveSession* session : all) nodes.push_back(session->node_name);
  return absl::StrCat("active on ", nodes.size() == 1 ? "node " : "nodes ",
                      absl::StrJoin(nodes, ", "));
}

Decision LimitReached(int limit, const Seats& seats, absl::string_view why,
                      const DecideOptions& options) {
  const std::string detail = NodesHolding(seats);
  const std::string plain =
      why.empty() ? absl::StrCat(seats.count(), seats.count() == 1 ? " device is" : " devices are",
                                 " connected")
                  : std::string(why);
  return Deny(DenyReason::kDeviceLimitReached,
              absl::StrCat("device limit ", limit,
                           " reached: ", options.detailed_messages && why.empty() ? detail : plain),
              detail);
}

}  // namespace

bool TicketBelongsToAnother(absl::string_view named_username, absl::string_view holder_username) {
  return !named_username.empty() && named_username != holder_username;
}

bool WithholdsIdleDevices(const UserLimits& limits, std::span<const LiveSession> live) {
  if (limits.policy != model::LimitPolicy::kReject || limits.max_connections == 0) return false;
  // The new session takes a seat too.
  return SeatsOf(live).count() + 1 >= static_cast<size_t>(limits.max_connections);
}

Decision Decide(const AdmissionFacts& facts, absl::Time now, const DecideOptions& options) {
  if (facts.ticket && !facts.ticket->family_live) {
    // Its login was revoked while the admission waited for the user's lock.
    return Deny(DenyReason::kBadCredentials, "the connect ticket is not valid");
  }
  if (facts.ticket &&
      TicketBelongsToAnother(facts.ticket->named_username, facts.ticket->holder_username)) {
    return Deny(DenyReason::kBadCredentials, "the connect ticket belongs to another user");
  }
  if (facts.same_key && facts.same_key->closing) {
    // Letting the connection back in would silently undo its kill.
    return Deny(DenyReason::kSessionEnding,
                "this connection is being disconnected; connect again once it has ended");
  }
  if (facts.same_key && facts.same_key->same_user) {
    // Asked again about a live session: its user and login must still be good.
    if (facts.limits.disabled) {
      return Deny(DenyReason::kUserDisabled, "this account is disabled");
    }
    if (!facts.same_key->family_live) {
      return Deny(DenyReason::kBadCredentials, "this login has ended; log in again",
                  "the login family that opened this session was revoked or expired");
    }
    Decision again;
    again.admit = true;
    again.already_live = true;
    return again;
  }
  if (facts.vouching && !facts.vouching->node_trusted && !facts.vouching->provisioned_device) {
    // The same answer a wrong password gets: the client learns nothing.
    return Deny(DenyReason::kBadCredentials, "unknown user or wrong password",
                "the node named the user without a password or connect ticket, but it is not a "
                "trusted authenticator and the session key is no WireGuard device of the user "
                "provisioned to it");
  }
  if (facts.node_draining) {
    return Deny(DenyReason::kNodeDraining,
                "this server is draining for maintenance; connect to another server");
  }
  const UserLimits& limits = facts.limits;
  if (limits.disabled) return Deny(DenyReason::kUserDisabled, "this account is disabled");

  Decision admitted;
  admitted.admit = true;
  admitted.kill_due = now + absl::Seconds(limits.grace_seconds);
  admitted.withhold_idle_devices = WithholdsIdleDevices(limits, facts.live);
  if (facts.same_key) admitted.replace.push_back(facts.same_key->id);
  if (limits.max_connections == 0) return admitted;

  const Seats seats = SeatsOf(facts.live);
  const size_t limit = static_cast<size_t>(limits.max_connections);
  if (seats.count() < limit) return admitted;
  if (limits.policy == model::LimitPolicy::kReject) {
    return LimitReached(limits.max_connections, seats, "", options);
  }
  // Just enough of the oldest to leave room for the new one.
  const size_t excess = seats.count() - limit + 1;
  if (excess > seats.evictable.size()) {
    return LimitReached(limits.max_connections, seats,
                        "a disconnected device is still being removed; try again shortly", options);
  }
  for (size_t i = 0; i < excess; ++i) admitted.evict.push_back(seats.evictable[i]->id);
  return admitted;
}

std::vector<std::string> SessionsOverLimit(const UserLimits& limits,
                                           std::span<const LiveSession> live) {
  std::vector<std::string> over;
  if (limits.max_connections == 0 || limits.policy != model::LimitPolicy::kEvictOldest) {
    return over;
  }
  const Seats seats = SeatsOf(live);
  const size_t limit = static_cast<size_t>(limits.max_connections);
  if (seats.count() <= limit) return over;
  const size_t excess = std::min(seats.count() - limit, seats.evictable.size());
  for (size_t i = 0; i < excess; ++i) over.push_back(seats.evictable[i]->id);
  return over;
}

}  // namespace warden::control::admission
