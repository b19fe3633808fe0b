#include "agent/drivers/wireguard/owned_peer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace warden::agent::wireguard {
namespace {

constexpr absl::string_view kSessionPrefix = "wg:";
constexpr size_t kMaxLabel = 128;  // what the control plane accepts as a device label

}  // namespace

std::string SessionKeyFor(const Key& public_key) {
  return absl::StrCat(kSessionPrefix, KeyToBase64(public_key));
}

bool KeyOfSession(absl::string_view session_key, Key& public_key) {
  if (!absl::ConsumePrefix(&session_key, kSessionPrefix)) return false;
  absl::StatusOr<Key> key = KeyFromBase64(session_key);
  if (!key.ok()) return false;
  public_key = *key;
  return true;
}

std::string TunnelAddress(const PeerSpec& spec) {
  if (spec.allowed_ips.empty()) return "";
  const std::string& first = spec.allowed_ips.front();
  return first.substr(0, first.find('/'));
}

std::string DeviceLabel(const PeerSpec& spec) {
  return spec.device_id.substr(0, std::min(spec.device_id.size(), kMaxLabel));
}

absl::Status ValidateSpec(const PeerSpec& spec, Key& key, PeerSpec& normalized) {
  absl::StatusOr<Key> parsed = KeyFromBase64(spec.public_key);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "peer public_key \"", spec.public_key.substr(0, 60), "\": ", parsed.status().message()));
  }
  key = *parsed;
  if (spec.username.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer ", spec.public_key, ": username is required (whom it is admitted as)"));
  }
  if (spec.allowed_ips.size() > kMaxAllowedIpsPerPeer) {
    return absl::InvalidArgumentError(absl::StrCat("peer ", spec.public_key, ": at most ",
                                                   kMaxAllowedIpsPerPeer, " allowed IPs"));
  }
  normalized.device_id = spec.device_id;
  normalized.public_key = spec.public_key;
  normalized.username = spec.username;
  normalized.allowed_ips.clear();
  for (size_t i = 0; i < spec.allowed_ips.size(); ++i) {
    absl::StatusOr<IpPrefix> prefix = ParseIpPrefix(spec.allowed_ips[i]);
    if (!prefix.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("peer ", spec.public_key, " allowed_ips[", i,
                                                     "]: ", prefix.status().message()));
    }
    normalized.allowed_ips.push_back(FormatIpPrefix(*prefix));
  }
  return absl::OkStatus();
}

bool SameSpec(const PeerSpec& a, const PeerSpec& b) {
  return a.device_id == b.device_id && a.public_key == b.public_key && a.username == b.username &&
         a.allowed_ips == b.allowed_ips;
}

SessionReport OpenedReport(std::string session_key, std::string username,
                           std::string tunnel_address) {
  SessionReport report;
  report.kind = SessionReport::Kind::kOpened;
  report.session_key = std::move(session_key);
  report.username = std::move(username);
  report.tunnel_address = std::move(tunnel_address);
  return report;
}

SessionReport UsageReport(std::string session_key, std::string username, int64_t rx, int64_t tx) {
  SessionReport report;
  report.kind = SessionReport::Kind::kUsage;
  report.session_key = std::move(session_key);
  report.username = std::move(username);
  report.rx = rx;
  report.tx = tx;
  return report;
}

SessionReport ClosedReport(std::string session_key, std::string username, std::string reason,
                           int64_t rx, int64_t tx) {
  SessionReport report = UsageReport(std::move(session_key), std::move(username), rx, tx);
  report.kind = SessionReport::Kind::kClosed;
  report.reason = std::move(reason);
  return report;
}

std::optional<SessionReport> EndSession(const Key& key, OwnedPeer& peer,
                                        const std::string& reason) {
  const SessionState was = peer.session;
  peer.session = SessionState::kNone;
  peer.ticket = 0;  // an admission in flight now finds nothing to open
  if (was != SessionState::kLive) return std::nullopt;
  peer.rx_counted += peer.rx;
  peer.tx_counted += peer.tx;
  SessionReport report =
      ClosedReport(SessionKeyFor(key), peer.spec.username, reason, peer.rx, peer.tx);
  peer.rx = peer.tx = 0;
  return report;
}

}  // namespace warden::agent::wireguard
