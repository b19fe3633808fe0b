#include "agent/drivers/wireguard/peer_observer.h"

namespace warden::agent::wireguard {
namespace {

absl::Time HandshakeTime(const WgPeer& peer) {
  if (peer.last_handshake_unix_sec == 0 && peer.last_handshake_nsec == 0) {
    return absl::InfinitePast();  // never
  }
  return absl::FromUnixSeconds(peer.last_handshake_unix_sec) +
         absl::Nanoseconds(peer.last_handshake_nsec);
}

// A fresh handshake of a peer without a session.
void StartSession(const Key& key, OwnedPeer& owned, const WgPeer& peer,
                  const Observation& observation, uint64_t& next_ticket, PeerActions& actions) {
  owned.endpoint = peer.endpoint;
  if (observation.adopt) {  // admitted before this agent started: the reconcile decides
    owned.session = SessionState::kLive;
    owned.opened_at = observation.read_at;
    owned.rx = peer.rx_bytes - owned.rx_counted;
    owned.tx = peer.tx_bytes - owned.tx_counted;
    owned.usage_at = observation.read_at;
    owned.usage_rx = owned.rx;
    owned.usage_tx = owned.tx;
    return;
  }
  owned.session = SessionState::kAdmitting;
  owned.ticket = ++next_ticket;
  PeerActions::Admission& admission = actions.admissions.emplace_back();
  admission.ticket = owned.ticket;
  AdmitQuery& query = admission.query;
  query.protocol = Protocol::kWireGuard;
  query.session_key = SessionKeyFor(key);
  query.username = owned.spec.username;
  query.device_label = DeviceLabel(owned.spec);
  query.client_address = peer.endpoint;
}

// A live session: its counters move, it roams, reports usage, or goes idle.
void FollowSession(const Key& key, OwnedPeer& owned, const WgPeer& peer, bool fresh,
                   const Observation& observation, PeerActions& actions) {
  owned.rx = peer.rx_bytes - owned.rx_counted;
  owned.tx = peer.tx_bytes - owned.tx_counted;
  if (!fresh) {
    if (auto closed = EndSession(key, owned, "idle")) actions.reports.push_back(*closed);
    return;
  }
  if (!peer.endpoint.empty() && peer.endpoint != owned.endpoint) {
    owned.endpoint = peer.endpoint;  // roamed
  }
  if (observation.read_at - owned.usage_at >= observation.usage_interval &&
      (owned.rx != owned.usage_rx || owned.tx != owned.usage_tx)) {
    owned.usage_at = observation.read_at;
    owned.usage_rx = owned.rx;
    owned.usage_tx = owned.tx;
    actions.reports.push_back(
        UsageReport(SessionKeyFor(key), owned.spec.username, owned.rx, owned.tx));
  }
}

// An owned peer the interface has.
void ObservePresent(const Key& key, OwnedPeer& owned, const WgPeer& peer,
                    const Observation& observation, uint64_t& next_ticket, PeerActions& actions) {
  owned.seen_poll = observation.poll;
  owned.present = true;
  if (owned.withheld) {
    if (owned.changed_at <= observation.read_at) {
      actions.repairs.push_back({.key = key, .repair = PeerActions::Repair::kRemove});
    }
    return;
  }
  if (peer.rx_bytes < owned.rx_counted || peer.tx_bytes < owned.tx_counted) {
    owned.rx_counted = owned.tx_counted = 0;  // the peer was re-created under us
  }
  const absl::Time handshake = HandshakeTime(peer);
  const bool fresh =
      handshake >= owned.added_at && observation.read_at - handshake < observation.stale_after;
  switch (owned.session) {
    case SessionState::kNone:
      if (fresh) StartSession(key, owned, peer, observation, next_ticket, actions);
      break;
    case SessionState::kAdmitting:
      break;
    case SessionState::kLive:
      FollowSession(key, owned, peer, fresh, observation, actions);
      break;
  }
}

}  // namespace

PeerActions ObservePeers(OwnedPeerMap& owned, const WgDevice& device,
                         const Observation& observation, uint64_t& next_ticket) {
  PeerActions actions;
  for (const WgPeer& peer : device.peers) {
    auto it = owned.find(peer.public_key);
    if (it == owned.end()) continue;  // not ours: never touched
    ObservePresent(it->first, it->second, peer, observation, next_ticket, actions);
  }
  // Owned peers the interface lacks: put back (wireguard-go restarted, or
  // someone removed them), unless the driver changed them after this read.
  for (auto& [key, peer] : owned) {
    if (peer.seen_poll == observation.poll) continue;
    peer.present = false;
    if (peer.withheld) continue;
    if (auto closed = EndSession(key, peer, "peer gone from the interface")) {
      actions.reports.push_back(*closed);
    }
    if (peer.changed_at <= observation.read_at) {
      actions.repairs.push_back({.key = key, .repair = PeerActions::Repair::kAdd});
    }
  }
  return actions;
}

}  // namespace warden::agent::wireguard
