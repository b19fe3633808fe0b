#include "controlplane/services/convert.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/timestamp.h"
#include "controlplane/services/limits_proto.h"

namespace warden::control::services {

void ToProto(absl::Time time, google::protobuf::Timestamp* out) { SetTimestamp(time, out); }

absl::Time FromProto(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixSeconds(timestamp.seconds()) + absl::Nanoseconds(timestamp.nanos());
}

v1::LimitPolicy ToProto(model::LimitPolicy policy) {
  return policy == model::LimitPolicy::kReject ? v1::REJECT : v1::EVICT_OLDEST;
}

v1::QuotaAction ToProto(model::QuotaAction action) {
  return action == model::QuotaAction::kThrottle ? v1::QUOTA_THROTTLE : v1::QUOTA_DENY;
}

v1::ApiKeyRole ToProto(model::Role role) {
  return role == model::Role::kAdmin ? v1::ADMIN : v1::VIEWER;
}

v1::Protocol ToProto(model::Protocol protocol) {
  switch (protocol) {
    case model::Protocol::kWireGuard:
      return v1::WIREGUARD;
    case model::Protocol::kOpenVpn:
      return v1::OPENVPN;
    case model::Protocol::kQuic:
      return v1::QUIC;
  }
  return v1::PROTOCOL_UNSPECIFIED;
}

v1::SessionState ToProto(model::SessionState state) {
  switch (state) {
    case model::SessionState::kActive:
      return v1::SESSION_STATE_ACTIVE;
    case model::SessionState::kClosing:
      return v1::SESSION_STATE_CLOSING;
    case model::SessionState::kClosed:
      return v1::SESSION_STATE_CLOSED;
  }
  return v1::SESSION_STATE_UNSPECIFIED;
}

v1::NodeState ToProto(model::NodeState state) {
  switch (state) {
    case model::NodeState::kActive:
      return v1::NODE_STATE_ACTIVE;
    case model::NodeState::kDraining:
      return v1::NODE_STATE_DRAINING;
    case model::NodeState::kRemoved:
      return v1::NODE_STATE_REMOVED;
  }
  return v1::NODE_STATE_UNSPECIFIED;
}

v1::CommandKind ToProto(model::CommandKind kind) {
  // The kind table carries the wire number (CommandKindTest checks it).
  return static_cast<v1::CommandKind>(model::KindWireNumber(kind));
}

v1::DenyReason ToProto(model::DenyReason reason) {
  switch (reason) {
    case model::DenyReason::kBadCredentials:
      return v1::BAD_CREDENTIALS;
    case model::DenyReason::kUserDisabled:
      return v1::USER_DISABLED;
    case model::DenyReason::kDeviceLimitReached:
      return v1::DEVICE_LIMIT_REACHED;
    case model::DenyReason::kNodeDraining:
      return v1::NODE_DRAINING;
    case model::DenyReason::kSessionEnding:
      return v1::SESSION_ENDING;
    case model::DenyReason::kAccountExpired:
      return v1::ACCOUNT_EXPIRED;
    case model::DenyReason::kDeviceExpired:
      return v1::DEVICE_EXPIRED;
    case model::DenyReason::kProtocolNotAllowed:
      return v1::PROTOCOL_NOT_ALLOWED;
    case model::DenyReason::kNodeNotAllowed:
      return v1::NODE_NOT_ALLOWED;
    case model::DenyReason::kNodeLimitReached:
      return v1::NODE_LIMIT_REACHED;
    case model::DenyReason::kLabelLimitReached:
      return v1::LABEL_LIMIT_REACHED;
    case model::DenyReason::kQuotaExceeded:
      return v1::QUOTA_EXCEEDED;
  }
  return v1::DENY_REASON_UNSPECIFIED;
}

void ToProto(const model::Node& node, v1::Node* out) {
  out->set_id(node.id);
  out->set_name(node.name);
  for (model::Protocol protocol : node.protocols) out->add_protocols(ToProto(protocol));
  out->set_state(ToProto(node.state));
  out->set_attach_epoch(node.attach_epoch);
  if (node.last_seen_at) ToProto(*node.last_seen_at, out->mutable_last_seen_at());
  ToProto(node.created_at, out->mutable_created_at());
  out->set_live_sessions(node.live_sessions);
  out->set_trusted_authenticator(node.trusted_authenticator);
  for (const auto& [key, value] : node.labels) (*out->mutable_labels())[key] = value;
}

void ToProto(const model::Command& command, v1::Command* out) {
  out->set_id(command.id);
  out->set_kind(ToProto(command.kind));
  if (command.kind == model::CommandKind::kAddPeer ||
      command.kind == model::CommandKind::kRemovePeer) {
    ToProto(command.peer, out->mutable_peer());
  }
  out->set_session_id(command.session_id);
  out->set_session_key(command.session_key);
  out->set_reason(command.reason);
  out->set_reason_code(command.reason_code);
  out->set_user_id(command.user_id);
  out->set_bandwidth_bytes_per_second(command.bandwidth_bytes_per_second);
  out->set_draining(command.draining);
  ToProto(command.due_at, out->mutable_due_at());
}

void ToProto(const model::WireGuardPeer& peer, v1::WireGuardPeer* out) {
  out->set_device_id(peer.device_id);
  out->set_public_key(peer.public_key);
  for (const std::string& ip : peer.allowed_ips) out->add_allowed_ips(ip);
  out->set_username(peer.username);
}

void ToProto(const model::Device& device, v1::Device* out) {
  out->set_id(device.id);
  out->set_user_id(device.user_id);
  out->set_username(device.username);
  out->set_public_key(device.public_key);
  out->set_label(device.label);
  out->set_address_v4(device.address_v4);
  out->set_address_v6(device.address_v6);
  ToProto(device.created_at, out->mutable_created_at());
  if (device.expires_at) ToProto(*device.expires_at, out->mutable_expires_at());
}

void ToProto(const model::Session& session, v1::Session* out) {
  out->set_id(session.id);
  out->set_user_id(session.user_id);
  out->set_username(session.username);
  out->set_node_id(session.node_id);
  out->set_node_name(session.node_name);
  out->set_protocol(ToProto(session.protocol));
  out->set_session_key(session.session_key);
  out->set_device_label(session.device_label);
  out->set_client_address(session.client_address);
  out->set_tunnel_address(session.tunnel_address);
  if (session.family_id) out->set_family_id(*session.family_id);
  out->set_state(ToProto(session.state));
  ToProto(session.opened_at, out->mutable_opened_at());
  ToProto(session.last_seen_at, out->mutable_last_seen_at());
  if (session.closed_at) ToProto(*session.closed_at, out->mutable_closed_at());
  out->set_close_reason(session.close_reason);
  out->set_end_reason(session.end_reason);
  out->set_rx_bytes(session.rx_bytes);
  out->set_tx_bytes(session.tx_bytes);
  if (session.kill_failed_at) ToProto(*session.kill_failed_at, out->mutable_kill_failed_at());
  out->set_kill_error(session.kill_error);
}

void ToProto(const store::FleetStats& stats, v1::Stats* out) {
  out->set_live_sessions(stats.live_sessions);
  out->set_closing_sessions(stats.closing_sessions);
  out->set_users_with_live_sessions(stats.users_with_live_sessions);
  for (const auto& [node, count] : stats.live_by_node) {
    (*out->mutable_live_sessions_by_node())[node] = count;
  }
  for (const auto& [protocol, count] : stats.live_by_protocol) {
    (*out->mutable_live_sessions_by_protocol())[v1::Protocol_Name(ToProto(protocol))] = count;
  }
}

void ToProto(const store::AdmissionResult& result, v1::AdmitResponse* out) {
  if (!result.decision.admit) {
    out->mutable_denied()->set_reason(ToProto(result.decision.reason));
    out->mutable_denied()->set_message(result.decision.message);
    return;
  }
  v1::Admitted* admitted = out->mutable_admitted();
  admitted->set_session_id(result.session_id);
  admitted->set_user_id(result.user_id);
  admitted->set_username(result.username);
  admitted->set_bandwidth_bytes_per_second(result.bandwidth_bytes_per_second);
  admitted->set_already_live(result.already_live);
  for (const store::Eviction& eviction : result.evictions) {
    v1::EvictedSession* evicted = admitted->add_evicted();
    evicted->set_session_id(eviction.session_id);
    evicted->set_node_name(eviction.node_name);
    ToProto(eviction.kill_due, evicted->mutable_kill_due_at());
  }
}

void ToProto(const model::User& user, v1::User* out) {
  out->set_id(user.id);
  out->set_username(user.username);
  out->set_has_password(user.has_password);
  LimitsToProto(user.limits, out);
  out->set_plan(user.plan_name);
  if (user.expires_at) ToProto(*user.expires_at, out->mutable_expires_at());
  ToProto(user.effective, out->mutable_effective());
  out->set_disabled(user.disabled);
  ToProto(user.created_at, out->mutable_created_at());
  ToProto(user.updated_at, out->mutable_updated_at());
}

void ToProto(const model::ApiKey& key, v1::ApiKey* out) {
  out->set_id(key.id);
  out->set_name(key.name);
  out->set_role(ToProto(key.role));
  ToProto(key.created_at, out->mutable_created_at());
  if (key.revoked_at) ToProto(*key.revoked_at, out->mutable_revoked_at());
}

void ToProto(const model::AuditEvent& event, v1::AuditEvent* out) {
  out->set_id(event.id);
  ToProto(event.at, out->mutable_at());
  out->set_actor(event.actor);
  out->set_action(event.action);
  out->set_subject(event.subject);
  // Stored by Warden as a JSON object, so this cannot fail in practice; a
  // failure leaves details empty rather than failing the listing.
  (void)google::protobuf::util::JsonStringToMessage(event.details_json, out->mutable_details());
}

void ToProto(const model::QuotaStanding& standing, v1::QuotaStatus* out) {
  out->set_user_id(standing.user_id);
  out->set_quota_bytes(standing.quota_bytes);
  out->set_granted_bytes(standing.granted_bytes);
  out->set_used_bytes(standing.used_bytes);
  if (standing.quota_bytes > 0) {
    out->set_remaining_bytes(
        std::max<int64_t>(0, standing.quota_bytes + standing.granted_bytes - standing.used_bytes));
  }
  out->set_window_start(absl::FormatCivilTime(standing.window_start));
  // A calendar month starts over on the first of the next; a rolling window
  // frees its oldest day at the next midnight.
  const absl::CivilDay resets = standing.period_days == 0
                                    ? absl::CivilDay(absl::CivilMonth(standing.window_start) + 1)
                                    : absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()) + 1;
  out->set_resets_at(absl::FormatTime(
      "%Y-%m-%dT%H:%M:%SZ", absl::FromCivil(resets, absl::UTCTimeZone()), absl::UTCTimeZone()));
  out->set_quota_period_days(standing.period_days);
  const bool throttle = standing.action == model::QuotaAction::kThrottle;
  out->set_on_quota_exceeded(throttle ? "throttle" : "deny");
  out->set_held(standing.held);
  out->set_notified_percent(standing.notified_percent);
  if (throttle) {
    out->set_note(
        "throttling shapes QUIC tunnels only; WireGuard and OpenVPN sessions over the quota are "
        "ended (quota_exceeded), and new ones refused, until the window frees bytes");
  }
}

}  // namespace warden::control::services
