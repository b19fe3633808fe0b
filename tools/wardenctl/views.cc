#include "tools/wardenctl/views.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/wardenctl/names.h"

namespace warden::wardenctl {
namespace {

std::string YesNo(bool value) { return value ? "yes" : "no"; }
std::string CountText(int64_t count) {
  return count == 0 ? std::string("unlimited") : absl::StrCat(count);
}

}  // namespace

std::string LabelsText(const v1::Node& node) {
  std::map<std::string, std::string> sorted(node.labels().begin(), node.labels().end());
  if (sorted.empty()) return "none";
  return absl::StrJoin(sorted, ",", absl::PairFormatter("="));
}

View<v1::User> UserView(const TimeText& time) {
  // The limits shown are the ones in force: the user's own, else the plan's.
  return {
      .columns =
          {
              {"ID", [](const v1::User& u) { return u.id(); }, true},
              {"USERNAME", [](const v1::User& u) { return u.username(); }},
              {"PLAN", [](const v1::User& u) { return u.plan(); }},
              {"MAX", [](const v1::User& u) { return CountText(u.effective().max_connections()); }},
              {"POLICY",
               [](const v1::User& u) { return PolicyName(u.effective().limit_policy()); }},
              {"GRACE",
               [](const v1::User& u) { return absl::StrCat(u.effective().grace_seconds(), "s"); },
               true},
              {"BANDWIDTH",
               [](const v1::User& u) {
                 return RateText(u.effective().bandwidth_bytes_per_second());
               },
               true},
              {"QUOTA",
               [](const v1::User& u) {
                 return u.effective().data_quota_bytes() == 0
                            ? std::string("none")
                            : BytesText(u.effective().data_quota_bytes());
               },
               true},
              {"PASSWORD", [](const v1::User& u) { return YesNo(u.has_password()); }, true},
              {"STATUS",
               [](const v1::User& u) { return std::string(u.disabled() ? "disabled" : "active"); }},
              {"EXPIRES", [&time](const v1::User& u) { return time.Format(u.expires_at()); }, true},
              {"CREATED", [&time](const v1::User& u) { return time.Format(u.created_at()); }},
              {"UPDATED", [&time](const v1::User& u) { return time.Format(u.updated_at()); }, true},
          },
      .id = [](const v1::User& u) { return u.id(); },
  };
}

View<v1::Plan> PlanView(const TimeText& time) {
  // A plan's own values; "-" where it leaves the default.
  return {
      .columns =
          {
              {"ID", [](const v1::Plan& p) { return p.id(); }, true},
              {"NAME", [](const v1::Plan& p) { return p.name(); }},
              {"USERS", [](const v1::Plan& p) { return absl::StrCat(p.users()); }},
              {"MAX",
               [](const v1::Plan& p) {
                 return p.has_max_connections() ? CountText(p.max_connections()) : "-";
               }},
              {"PER NODE",
               [](const v1::Plan& p) {
                 return p.has_max_connections_per_node() ? CountText(p.max_connections_per_node())
                                                         : "-";
               },
               true},
              {"POLICY",
               [](const v1::Plan& p) {
                 return p.has_limit_policy() ? PolicyName(p.limit_policy()) : "-";
               }},
              {"BANDWIDTH",
               [](const v1::Plan& p) {
                 return p.has_bandwidth_bytes_per_second()
                            ? RateText(p.bandwidth_bytes_per_second())
                            : "-";
               }},
              {"QUOTA",
               [](const v1::Plan& p) {
                 if (!p.has_data_quota_bytes()) return std::string("-");
                 return p.data_quota_bytes() == 0 ? std::string("none")
                                                  : BytesText(p.data_quota_bytes());
               }},
              {"PROTOCOLS",
               [](const v1::Plan& p) {
                 return p.has_allowed_protocols() ? ProtocolsText(p.allowed_protocols().protocols())
                                                  : "-";
               },
               true},
              {"DESCRIPTION", [](const v1::Plan& p) { return p.description(); }, true},
              {"CREATED", [&time](const v1::Plan& p) { return time.Format(p.created_at()); }, true},
          },
      .id = [](const v1::Plan& p) { return p.id(); },
  };
}

View<v1::Node> NodeView(const TimeText& time) {
  return {
      .columns =
          {
              {"ID", [](const v1::Node& n) { return n.id(); }, true},
              {"NAME", [](const v1::Node& n) { return n.name(); }},
              {"STATE", [](const v1::Node& n) { return NodeStateName(n.state()); }},
              {"ONLINE", [](const v1::Node& n) { return YesNo(n.online()); }},
              {"SESSIONS", [](const v1::Node& n) { return absl::StrCat(n.live_sessions()); }},
              {"PROTOCOLS", [](const v1::Node& n) { return ProtocolsText(n.protocols()); }},
              {"LABELS", [](const v1::Node& n) { return LabelsText(n); }, true},
              {"TRUSTED", [](const v1::Node& n) { return YesNo(n.trusted_authenticator()); }, true},
              {"AGENT", [](const v1::Node& n) { return n.agent_version(); }, true},
              {"EPOCH", [](const v1::Node& n) { return absl::StrCat(n.attach_epoch()); }, true},
              {"LAST SEEN", [&time](const v1::Node& n) { return time.Format(n.last_seen_at()); }},
              {"CREATED", [&time](const v1::Node& n) { return time.Format(n.created_at()); }, true},
          },
      .id = [](const v1::Node& n) { return n.id(); },
  };
}

View<v1::Session> SessionView(const TimeText& time) {
  return {
      .columns =
          {
              {"ID", [](const v1::Session& s) { return s.id(); }},
              {"USER", [](const v1::Session& s) { return s.username(); }},
              {"NODE", [](const v1::Session& s) { return s.node_name(); }},
              {"PROTOCOL", [](const v1::Session& s) { return ProtocolName(s.protocol()); }},
              {"DEVICE", [](const v1::Session& s) { return s.device_label(); }},
              {"KEY", [](const v1::Session& s) { return s.session_key(); }, true},
              {"CLIENT", [](const v1::Session& s) { return s.client_address(); }, true},
              {"TUNNEL", [](const v1::Session& s) { return s.tunnel_address(); }, true},
              {"STATE", [](const v1::Session& s) { return SessionStateName(s.state()); }},
              {"OPENED", [&time](const v1::Session& s) { return time.Format(s.opened_at()); }},
              {"CLOSED", [&time](const v1::Session& s) { return time.Format(s.closed_at()); },
               true},
              {"RX", [](const v1::Session& s) { return BytesText(s.rx_bytes()); }, true},
              {"TX", [](const v1::Session& s) { return BytesText(s.tx_bytes()); }, true},
              {"FAMILY", [](const v1::Session& s) { return s.family_id(); }, true},
              {"REASON", [](const v1::Session& s) { return s.end_reason(); }},
              {"WHY", [](const v1::Session& s) { return s.close_reason(); }, true},
              {"KILL ERROR", [](const v1::Session& s) { return s.kill_error(); }, true},
          },
      .id = [](const v1::Session& s) { return s.id(); },
  };
}

View<v1::Device> DeviceView(const TimeText& time) {
  return {
      .columns =
          {
              {"ID", [](const v1::Device& d) { return d.id(); }},
              {"USER", [](const v1::Device& d) { return d.username(); }},
              {"LABEL", [](const v1::Device& d) { return d.label(); }},
              {"ADDRESS", [](const v1::Device& d) { return d.address_v4(); }},
              {"ADDRESS6", [](const v1::Device& d) { return d.address_v6(); }, true},
              {"PUBLIC KEY", [](const v1::Device& d) { return d.public_key(); }, true},
              {"CREATED", [&time](const v1::Device& d) { return time.Format(d.created_at()); }},
          },
      .id = [](const v1::Device& d) { return d.id(); },
  };
}

View<v1::Family> FamilyView(const TimeText& time) {
  return {
      .columns =
          {
              {"ID", [](const v1::Family& f) { return f.id(); }},
              {"USER", [](const v1::Family& f) { return f.username(); }},
              {"DEVICE", [](const v1::Family& f) { return f.device_label(); }},
              {"STATUS",
               [](const v1::Family& f) {
                 return f.has_revoked_at() ? absl::StrCat("revoked: ", f.revoke_reason())
                                           : std::string("live");
               }},
              {"ROTATIONS", [](const v1::Family& f) { return absl::StrCat(f.rotations()); }, true},
              {"CREATED", [&time](const v1::Family& f) { return time.Format(f.created_at()); }},
              {"LAST SEEN", [&time](const v1::Family& f) { return time.Format(f.last_seen_at()); }},
              {"EXPIRES", [&time](const v1::Family& f) { return time.Format(f.expires_at()); }},
              {"REVOKED", [&time](const v1::Family& f) { return time.Format(f.revoked_at()); },
               true},
          },
      .id = [](const v1::Family& f) { return f.id(); },
  };
}

View<v1::ApiKey> ApiKeyView(const TimeText& time) {
  return {
      .columns =
          {
              {"ID", [](const v1::ApiKey& k) { return k.id(); }, true},
              {"NAME", [](const v1::ApiKey& k) { return k.name(); }},
              {"ROLE", [](const v1::ApiKey& k) { return RoleName(k.role()); }},
              {"STATUS",
               [](const v1::ApiKey& k) {
                 return std::string(k.has_revoked_at() ? "revoked" : "valid");
               }},
              {"CREATED", [&time](const v1::ApiKey& k) { return time.Format(k.created_at()); }},
              {"REVOKED", [&time](const v1::ApiKey& k) { return time.Format(k.revoked_at()); },
               true},
          },
      .id = [](const v1::ApiKey& k) { return k.id(); },
  };
}

View<v1::AuditEvent> AuditView(const TimeText& time, const NameOf& names) {
  return {
      .columns =
          {
              {"ID", [](const v1::AuditEvent& e) { return absl::StrCat(e.id()); }},
              {"TIME", [&time](const v1::AuditEvent& e) { return time.Format(e.at()); }},
              {"ACTOR", [](const v1::AuditEvent& e) { return e.actor(); }},
              {"ACTION", [](const v1::AuditEvent& e) { return e.action(); }},
              {"SUBJECT", [](const v1::AuditEvent& e) { return e.subject(); }},
              {"DETAILS",
               [names](const v1::AuditEvent& e) { return DetailsText(e.details(), names); }},
          },
      .id = [](const v1::AuditEvent& e) { return absl::StrCat(e.id()); },
  };
}

View<v1::Webhook> WebhookView(const TimeText& time) {
  return {
      .columns =
          {
              {"ID", [](const v1::Webhook& w) { return w.id(); }},
              {"URL", [](const v1::Webhook& w) { return w.url(); }},
              {"EVENTS",
               [](const v1::Webhook& w) {
                 return w.event_types().empty() ? std::string("all")
                                                : absl::StrJoin(w.event_types(), ",");
               }},
              {"STATUS",
               [](const v1::Webhook& w) {
                 if (!w.enabled()) {
                   return w.disabled_reason().empty()
                              ? std::string("disabled")
                              : absl::StrCat("disabled: ", w.disabled_reason());
                 }
                 return std::string(w.has_failing_since() ? "failing" : "enabled");
               }},
              {"PENDING",
               [](const v1::Webhook& w) { return absl::StrCat(w.deliveries_pending()); }},
              {"FAILED", [](const v1::Webhook& w) { return absl::StrCat(w.deliveries_failed()); }},
              {"FAILING SINCE",
               [&time](const v1::Webhook& w) { return time.Format(w.failing_since()); }, true},
              {"DESCRIPTION", [](const v1::Webhook& w) { return w.description(); }, true},
              {"CREATED", [&time](const v1::Webhook& w) { return time.Format(w.created_at()); },
               true},
          },
      .id = [](const v1::Webhook& w) { return w.id(); },
  };
}

std::string DeliveryStatusName(v1::DeliveryStatus status) {
  switch (status) {
    case v1::DELIVERY_STATUS_PENDING:
      return "pending";
    case v1::DELIVERY_STATUS_DELIVERED:
      return "delivered";
    case v1::DELIVERY_STATUS_FAILED:
      return "failed";
    default:
      return "";
  }
}

View<v1::WebhookDelivery> DeliveryView(const TimeText& time) {
  return {
      .columns =
          {
              {"ID", [](const v1::WebhookDelivery& d) { return absl::StrCat(d.id()); }},
              {"EVENT", [](const v1::WebhookDelivery& d) { return d.event_type(); }},
              {"STATUS",
               [](const v1::WebhookDelivery& d) { return DeliveryStatusName(d.status()); }},
              {"ATTEMPTS", [](const v1::WebhookDelivery& d) { return absl::StrCat(d.attempts()); }},
              {"HTTP",
               [](const v1::WebhookDelivery& d) {
                 return d.last_http_status() == 0 ? std::string("-")
                                                  : absl::StrCat(d.last_http_status());
               }},
              {"CREATED",
               [&time](const v1::WebhookDelivery& d) { return time.Format(d.created_at()); }},
              {"NEXT ATTEMPT",
               [&time](const v1::WebhookDelivery& d) { return time.Format(d.next_attempt_at()); },
               true},
              {"MESSAGE ID", [](const v1::WebhookDelivery& d) { return d.message_id(); }, true},
              {"ERROR", [](const v1::WebhookDelivery& d) { return d.last_error(); }},
          },
      .id = [](const v1::WebhookDelivery& d) { return absl::StrCat(d.id()); },
  };
}

View<v1::UserUsage> TopUserView() {
  return {
      .columns =
          {
              {"USER", [](const v1::UserUsage& u) { return u.username(); }},
              {"TOTAL",
               [](const v1::UserUsage& u) { return BytesText(u.rx_bytes() + u.tx_bytes()); }},
              {"RX", [](const v1::UserUsage& u) { return BytesText(u.rx_bytes()); }},
              {"TX", [](const v1::UserUsage& u) { return BytesText(u.tx_bytes()); }},
              {"ID", [](const v1::UserUsage& u) { return u.user_id(); }, true},
          },
      .id = [](const v1::UserUsage& u) { return u.user_id(); },
  };
}

View<v1::UsagePeriod> UsagePeriodView() {
  auto protocol_bytes = [](const v1::UsagePeriod& p, v1::Protocol protocol) {
    for (const v1::ProtocolUsage& part : p.by_protocol()) {
      if (part.protocol() == protocol) return BytesText(part.rx_bytes() + part.tx_bytes());
    }
    return std::string("-");
  };
  return {
      .columns =
          {
              {"PERIOD", [](const v1::UsagePeriod& p) { return p.start(); }},
              {"TOTAL",
               [](const v1::UsagePeriod& p) { return BytesText(p.rx_bytes() + p.tx_bytes()); }},
              {"RX", [](const v1::UsagePeriod& p) { return BytesText(p.rx_bytes()); }},
              {"TX", [](const v1::UsagePeriod& p) { return BytesText(p.tx_bytes()); }},
              {"WIREGUARD",
               [protocol_bytes](const v1::UsagePeriod& p) {
                 return protocol_bytes(p, v1::WIREGUARD);
               },
               true},
              {"OPENVPN",
               [protocol_bytes](const v1::UsagePeriod& p) {
                 return protocol_bytes(p, v1::OPENVPN);
               },
               true},
              {"QUIC",
               [protocol_bytes](const v1::UsagePeriod& p) { return protocol_bytes(p, v1::QUIC); },
               true},
          },
      .id = [](const v1::UsagePeriod& p) { return p.start(); },
  };
}

}  // namespace warden::wardenctl
