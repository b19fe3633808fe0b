#pragma once

// The one interface between the agent and what carries tunnels (OpenVPN,
// WireGuard, QUIC, or the in-memory test driver). A driver knows nothing of
// the control plane; the agent's core knows nothing of any VPN.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::agent {

enum class Protocol { kWireGuard, kOpenVpn, kQuic };

// A connection a driver carries.
struct DriverSession {
  std::string session_key;  // unique on the node: "ovpn:<server>:<cid>", "wg:<key>", ...
  std::string username;
  Protocol protocol = Protocol::kOpenVpn;
  std::string device_label;
  std::string client_address;
  std::string tunnel_address;  // inside the tunnel, when known
  absl::Time opened_at;
  int64_t rx_bytes = 0;
  int64_t tx_bytes = 0;
};

// A new connection asks to be let in.
inline constexpr char kConnectTicketPrefix[] = "wct_";

struct AdmitQuery {
  Protocol protocol = Protocol::kOpenVpn;
  std::string session_key;
  std::string username;
  std::optional<std::string> password;  // absent: the driver vouches for the user
  // A single-use SessionService connect ticket ("wct_..."), given instead of
  // a password; the user is the ticket's.
  std::optional<std::string> connect_ticket;
  std::string device_label;
  std::string client_address;
};

// A WireGuard peer the control plane wants on this node.
struct PeerSpec {
  std::string device_id;
  std::string public_key;  // base64
  std::vector<std::string> allowed_ips;
  std::string username;
};

// A WireGuard interface as its users' devices reach it (what a client's
// [Peer] section needs), for the Hello.
struct WireGuardIdentity {
  std::string iface{};
  std::string public_key{};  // standard base64; "" while the interface has no key
  std::string endpoint{};    // host:port users dial; "" when not configured
  int listen_port = 0;
};

struct AdmitAnswer {
  bool admitted = false;
  std::string session_id;   // empty when admitted offline (fail-open)
  std::string username;     // whose session it is (a ticket names no user)
  std::string deny_reason;  // e.g. "DEVICE_LIMIT_REACHED"
  std::string message;      // for the user
  int64_t bandwidth_bytes_per_second = 0;
};

// What the agent offers its drivers. Thread-safe; Admit blocks up to its
// timeout (drivers call it from their own threads).
class DriverHost {
 public:
  virtual ~DriverHost() = default;
  virtual AdmitAnswer Admit(const AdmitQuery& query) = 0;
  // The connection is up; `tunnel_address` is the client's address inside
  // the tunnel ("" when the driver has none).
  virtual void Opened(const std::string& session_key, const std::string& tunnel_address) = 0;
  virtual void Closed(const std::string& session_key, const std::string& reason, int64_t rx_bytes,
                      int64_t tx_bytes) = 0;
  virtual void Usage(const std::string& session_key, int64_t rx_bytes, int64_t tx_bytes) = 0;
};

class Driver {
 public:
  virtual ~Driver() = default;
  virtual std::string name() const = 0;
  virtual absl::Status Start(DriverHost& host) = 0;
  // Idempotent. Most drivers leave their connections up when stopped (the
  // VPN server outlives the agent); see EndsSessionsOnStop.
  virtual void Stop() = 0;
  // Whether Stop ends the driver's connections and reports them Closed (the
  // agent's own QUIC endpoint): such a driver is stopped while the link can
  // still carry those reports.
  virtual bool EndsSessionsOnStop() const { return false; }
  // Everything the driver carries right now.
  virtual std::vector<DriverSession> Inventory() = 0;
  // Ends the connection; a key the driver does not carry is success (the
  // connection is already gone). The driver reports Closed when it is.
  virtual absl::Status Kill(const std::string& session_key, const std::string& reason) = 0;
  // UNIMPLEMENTED where the driver cannot shape traffic.
  virtual absl::Status SetBandwidth(const std::string& username, int64_t bytes_per_second) = 0;
  virtual bool Carries(const std::string& session_key) = 0;

  // Peer provisioning, for drivers that carry registered devices
  // (WireGuard): the full set on every attach, then single changes. A
  // driver touches only the peers it provisioned itself.
  virtual bool CarriesPeers() const { return false; }
  virtual absl::Status SetPeers(const std::vector<PeerSpec>& peers) {
    (void)peers;
    return absl::UnimplementedError(name() + " carries no provisioned peers");
  }
  virtual absl::Status AddPeer(const PeerSpec& peer) {
    (void)peer;
    return absl::UnimplementedError(name() + " carries no provisioned peers");
  }
  virtual absl::Status RemovePeer(const std::string& public_key) {
    (void)public_key;
    return absl::UnimplementedError(name() + " carries no provisioned peers");
  }
  // The WireGuard interface the driver serves, for the control plane to
  // give users' devices; nullopt for drivers that serve none.
  virtual std::optional<WireGuardIdentity> Identity() { return std::nullopt; }
};

}  // namespace warden::agent
