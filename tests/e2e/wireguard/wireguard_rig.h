#pragma once

// A real WireGuard server interface (wireguard-go) and clients in network
// namespaces, for end-to-end tests of the WireGuard driver and of the whole
// stack (warden-control + warden-agent --driver wireguard:iface=...).
//
// Layout of one rig (names carry the test's pid and a random tag, so rigs of
// parallel ctest runs never collide):
//
//   netns wgrig-<pid>-<tag>-s   bridge br0 10.B.C.1/24; wireguard-go <server iface>
//                               listening on udp 51820, tunnel address 10.B.C+1.1/24
//   netns wgrig-<pid>-<tag>-c0  eth0 10.B.C.10/24 (veth to br0); wireguard-go
//                               <client iface> at 10.B.C+1.10/24, whose one peer is
//                               the server (endpoint 10.B.C.1:51820, allowed
//                               10.B.C+1.0/24)
//   netns wgrig-<pid>-<tag>-c1  ... 10.B.C.11 / 10.B.C+1.11   (one per AddClient)
//
// B and C are random per rig and exist only inside its namespaces.
//
// The server interface starts with a private key and NO peers: provisioning
// the clients is the job of the code under test (the driver adds a peer with
// the client's public key and `allowed_ip`, "10.B.C+1.10/32"). A client whose
// peer is absent on the server cannot complete a handshake, so its pings fail.
//
// UAPI sockets live in /var/run/wireguard/<iface>.sock, which is NOT per
// namespace: every interface gets a name unique to the rig ("wgs<pid><tag>"
// for the server, "wgc<pid><tag><n>" for clients; at most 15 bytes). A
// process in the root namespace (the driver under test, or warden-agent)
// reaches the server through uapi_socket() without entering the namespace.
//
// Cleanup: the destructor kills the daemons, deletes the namespaces, the
// sockets and the temp dir, also after a failed assertion (and prints the
// daemons' logs and `wg show` first). The daemons die with the test process
// (PR_SET_PDEATHSIG); a later Setup() in any test deletes namespaces and temp
// dirs whose owning pid is gone, and rig sockets nobody listens on.
//
// Observed on 2 cores: Setup ~0.1 s, StartServerInterface ~0.2 s, AddClient
// ~0.3 s, first ping through the tunnel (handshake included) a few ms once
// the server has the peer.
//
// Needs root, wireguard-go, wg, ip and ping. Tests call UnusableReason()
// first and skip when it says why. Not thread-safe: use it from the test's
// thread.

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/support/process.h"

namespace warden::testing {

// Base64, as `wg genkey` / `wg pubkey` print them.
struct WgKeyPair {
  std::string private_key;
  std::string public_key;
};

class WireGuardRig {
 public:
  struct Client {
    std::string name;
    std::string ns;
    std::string iface;
    std::string tunnel_ip;   // "10.B.C+1.10": the client's address inside the tunnel
    std::string allowed_ip;  // "10.B.C+1.10/32": what the server's peer for it must allow
    WgKeyPair keys;
    std::unique_ptr<Process> daemon;  // wireguard-go in the namespace
    std::string log_path;
  };

  // Why the rig cannot run here ("" when it can): not root, a missing tool,
  // no /dev/net/tun (created with mknod when missing), no network namespaces.
  static std::string UnusableReason();

  WireGuardRig();
  ~WireGuardRig();

  WireGuardRig(const WireGuardRig&) = delete;
  WireGuardRig& operator=(const WireGuardRig&) = delete;

  // The temp dir, the server namespace and its bridge.
  absl::Status Setup();
  // wireguard-go in the server namespace (`iface` "" = the rig's unique
  // name), with a fresh private key, listen port 51820 and the server's
  // tunnel address; returns once its UAPI socket answers.
  absl::Status StartServerInterface(const std::string& iface = "");
  // SIGTERM (SIGKILL after 3 s); the interface and its peers are gone.
  void StopServerInterface();
  // A client namespace with its own wireguard-go and key, configured to
  // reach the server (which does not know it yet). Needs the server
  // interface started. At most 9 clients. By default the client gets a
  // fresh key pair and tunnel address 10.B.C+1.(10 + slot); a full-stack
  // test passes the key it registered and the address Warden allocated.
  struct ClientOptions {
    std::optional<WgKeyPair> keys;
    std::string tunnel_ip;  // "" = the default; must lie in 10.B.C+1.0/24
  };
  absl::StatusOr<Client*> AddClient(const std::string& name, const ClientOptions& options);
  absl::StatusOr<Client*> AddClient(const std::string& name) { return AddClient(name, {}); }
  // Before Setup: the addresses of `other` (each rig's namespaces keep them
  // apart), so that one device pool serves a fleet of rigs.
  void UseAddressesOf(const WireGuardRig& other) {
    net_ = other.net_;
    tun_net_ = other.tun_net_;
  }
  // The tunnel network "10.B.C+1.0/24": the pool a control plane under test
  // allocates device addresses from (the server side is .1).
  std::string tunnel_network() const { return tun_net_ + ".0/24"; }

  // ping -c1 -W1 from the client's namespace, repeated until it answers or
  // the timeout passes.
  bool ClientPing(const Client& client, const std::string& ip, absl::Duration timeout);
  // True when `attempts` single pings in a row (1 s each) all fail.
  bool ClientPingFails(const Client& client, const std::string& ip, int attempts = 2);

  // Base64 public keys of the server interface's peers, per `wg show dump`.
  std::vector<std::string> ServerPeerKeys();
  bool ServerHasPeer(const std::string& public_key);
  // The peer's latest handshake in Unix seconds (0: none since it was added),
  // or nullopt when the server has no such peer. A peer removed and added
  // again starts over at 0, which is how a test tells a torn-down tunnel from
  // one that was never touched.
  std::optional<int64_t> ServerLatestHandshake(const std::string& public_key);
  // `wg show <iface>` of the server, for failure messages.
  std::string ServerShow();

  // A key pair from `wg genkey | wg pubkey`.
  absl::StatusOr<WgKeyPair> GenerateKeyPair();

  // Runs a short command in `ns`; returns its exit code (-1: timeout or could not start).
  int RunInNs(const std::string& ns, const std::vector<std::string>& argv,
              absl::Duration timeout = absl::Seconds(10), std::string* output = nullptr);

  const std::string& server_ns() const { return server_ns_; }
  const std::string& server_iface() const { return server_iface_; }
  const std::string& server_public_key() const { return server_keys_.public_key; }
  // The server's address inside the tunnel: "10.B.C+1.1".
  std::string server_tunnel_ip() const { return tun_net_ + ".1"; }
  // Where clients send their packets: "10.B.C.1:51820".
  std::string server_endpoint() const { return net_ + ".1:51820"; }
  // "/var/run/wireguard/<server iface>.sock".
  std::string uapi_socket() const;
  // The rig's private temp dir (keys, logs); deleted with the rig. A good
  // --state-dir for an agent under test.
  const std::string& dir() const { return dir_; }

 private:
  absl::Status Ip(const std::vector<std::string>& args);
  absl::StatusOr<std::unique_ptr<Process>> StartDaemon(const std::string& ns,
                                                       const std::string& iface,
                                                       const std::string& log_path);
  void StopDaemon(std::unique_ptr<Process>& daemon, const std::string& iface);
  absl::Status WriteKey(const std::string& path, const std::string& key);
  void Teardown();
  void DumpLogs();

  std::string tag_;      // "<pid>-<4 hex>"
  std::string name_id_;  // "<pid><4 hex>": in interface names
  std::string net_;      // "10.B.C"
  std::string tun_net_;  // "10.B.C+1"
  std::string dir_;
  std::string server_ns_;
  std::string server_iface_;
  std::string server_log_;
  WgKeyPair server_keys_;
  std::unique_ptr<Process> server_daemon_;
  std::vector<std::string> namespaces_made_;
  std::vector<std::string> ifaces_started_;
  std::deque<Client> clients_;  // a deque keeps pointers stable
};

}  // namespace warden::testing
