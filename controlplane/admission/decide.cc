#include "controlplane/admission/decide.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/admission/policy.h"
#include "controlplane/admission/quota.h"
#include "controlplane/admission/seats.h"
#include "controlplane/model/effective_policy.h"

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

std::string NodesHolding(std::span<const LiveSession> live) {
  std::vector<const LiveSession*> seated;
  for (const LiveSession& session : live) {
    if (!session.closing || session.kill_failed) seated.push_back(&session);
  }
  std::sort(seated.begin(), seated.end(), OlderThan);
  std::vector<std::string> nodes;
  for (const LiveSession* session : seated) nodes.push_back(session->node_name);
  return absl::StrCat("active on ", nodes.size() == 1 ? "node " : "nodes ",
                      absl::StrJoin(nodes, ", "));
}

std::string Devices(int count) {
  return absl::StrCat(count, count == 1 ? " device is" : " devices are", " connected");
}

// The refusal for a scope that is full; `detail` names where the seats are.
Decision ScopeFull(const Fit& fit, std::span<const LiveSession> live,
                   const DecideOptions& options) {
  const Scope& scope = *fit.full;
  const std::string detail = NodesHolding(live);
  const std::string still_removing =
      "a disconnected device is still being removed; try again shortly";
  switch (scope.kind) {
    case Scope::Kind::kNode:
      return Deny(
          DenyReason::kNodeLimitReached,
          absl::StrCat("at most ", scope.cap, scope.cap == 1 ? " device" : " devices",
                       " per server: ",
                       fit.held_seats_in_the_way ? still_removing
                                                 : Devices(fit.seats_in_full) + " to this server"),
          detail);
    case Scope::Kind::kLabel:
      return Deny(
          DenyReason::kLabelLimitReached,
          absl::StrCat("at most ", scope.cap, scope.cap == 1 ? " device" : " devices", " per ",
                       scope.label, ": ",
                       fit.held_seats_in_the_way ? still_removing
                                                 : absl::StrCat(Devices(fit.seats_in_full), " in ",
                                                                scope.label, " ", scope.value)),
          detail);
    case Scope::Kind::kFleet:
      break;
  }
  return Deny(DenyReason::kDeviceLimitReached,
              absl::StrCat("device limit ", scope.cap, " reached: ",
                           fit.held_seats_in_the_way   ? still_removing
                           : options.detailed_messages ? detail
                                                       : Devices(fit.seats_in_full)),
              detail);
}

std::string ProtocolWord(model::Protocol protocol) {
  switch (protocol) {
    case model::Protocol::kWireGuard:
      return "WireGuard";
    case model::Protocol::kOpenVpn:
      return "OpenVPN";
    case model::Protocol::kQuic:
      return "QUIC tunnels";
  }
  return "this protocol";
}

}  // namespace

bool TicketBelongsToAnother(absl::string_view named_username, absl::string_view holder_username) {
  return !named_username.empty() && named_username != holder_username;
}

bool WithholdsIdleDevices(const UserLimits& limits, std::span<const LiveSession> live) {
  if (limits.policy != model::LimitPolicy::kReject || limits.max_connections == 0) return false;
  // A seat is a session not being killed, or one whose kill failed; the
  // new session takes one too.
  const auto seated = std::count_if(live.begin(), live.end(), [](const LiveSession& session) {
    return !session.closing || session.kill_failed;
  });
  return seated + 1 >= limits.max_connections;
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
    if (facts.limits.expires_at && *facts.limits.expires_at <= now) {
      return Deny(DenyReason::kAccountExpired, "this account has expired; contact your provider");
    }
    if (!facts.same_key->family_live) {
      return Deny(DenyReason::kBadCredentials, "this login has ended; log in again",
                  "the login family that opened this session was revoked or expired");
    }
    Decision again;
    again.admit = true;
    again.already_live = true;
    again.bandwidth_bytes_per_second = facts.limits.bandwidth_bytes_per_second;
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
  if (limits.expires_at && *limits.expires_at <= now) {
    return Deny(DenyReason::kAccountExpired,
                absl::StrCat("this account expired on ",
                             absl::FormatTime("%Y-%m-%d", *limits.expires_at, absl::UTCTimeZone()),
                             "; contact your provider"));
  }
  if (facts.requested.device_expires_at && *facts.requested.device_expires_at <= now) {
    return Deny(DenyReason::kDeviceExpired,
                "this device's access has expired; ask for it to be registered again");
  }
  if (!limits.allowed_protocols.empty() &&
      std::find(limits.allowed_protocols.begin(), limits.allowed_protocols.end(),
                facts.requested.protocol) == limits.allowed_protocols.end()) {
    return Deny(
        DenyReason::kProtocolNotAllowed,
        absl::StrCat("your plan does not include ", ProtocolWord(facts.requested.protocol)));
  }
  if (!model::NodeMatches(limits.node_selector, facts.requested.node_labels)) {
    return Deny(DenyReason::kNodeNotAllowed,
                "your plan does not include this server; connect to another one",
                "the node's labels do not match the user's node selector");
  }

  Decision admitted;
  admitted.admit = true;
  admitted.bandwidth_bytes_per_second = limits.bandwidth_bytes_per_second;
  if (facts.quota && QuotaUsedUp(limits, *facts.quota)) {
    const std::optional<int64_t> throttled = ThrottledBandwidth(limits, facts.requested.protocol);
    if (!throttled) {
      return Deny(DenyReason::kQuotaExceeded, QuotaUsedUpMessage(limits, *facts.quota),
                  QuotaUsedUpDetail(limits, *facts.quota));
    }
    admitted.bandwidth_bytes_per_second = *throttled;
  }
  admitted.kill_due = now + absl::Seconds(limits.grace_seconds);
  admitted.withhold_idle_devices = WithholdsIdleDevices(limits, facts.live);
  if (facts.same_key) admitted.replace.push_back(facts.same_key->id);
  Fit fit = FitOneMore(limits, facts.requested, facts.live);
  if (fit.full) return ScopeFull(fit, facts.live, options);
  admitted.evict = std::move(fit.evict);
  admitted.policy_due_at =
      NextDue(SessionClock{.opened_at = now,
                           .last_traffic_at = std::nullopt,
                           .account_expires_at = limits.expires_at,
                           .device_expires_at = facts.requested.device_expires_at,
                           .max_session_seconds = limits.max_session_seconds,
                           .idle_timeout_seconds = limits.idle_timeout_seconds});
  return admitted;
}

}  // namespace warden::control::admission
