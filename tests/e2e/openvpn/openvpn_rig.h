#pragma once

// A real OpenVPN 2.6 server and clients in network namespaces, for end-to-end
// tests of the OpenVPN driver.
//
// Layout of one rig (every name carries the test's pid and a random tag, so
// rigs of parallel ctest runs never collide):
//
//   netns wovpn-<pid>-<tag>-s   bridge br0 10.B.C.1/24, openvpn server on udp4 :1194,
//                               tunnel 10.B.C+1.0/24 (server tunnel IP 10.B.C+1.1)
//   netns wovpn-<pid>-<tag>-c0  eth0 10.B.C.10/24 (veth to br0), openvpn client on tun0
//   netns wovpn-<pid>-<tag>-c1  eth0 10.B.C.11/24 ...   (one per client slot)
//
// B and C are random per rig. The addresses exist only inside the rig's
// namespaces, so they cannot clash with the host or with another rig.
//
// The management interface is a unix socket in the rig's temp dir: a process
// in the root namespace (the agent under test, or the test itself) connects
// to it directly, no `ip netns exec` needed. OpenVPN accepts one management
// client at a time.
//
// With a management password, OpenVPN greets a new management client with
// "ENTER PASSWORD:" (no newline) and answers "SUCCESS: password is correct".
// With --management-client-auth and nobody answering, a client gets
// AUTH_FAILED about hand_window_seconds + 2 s after it starts.
//
// Cleanup: the destructor removes everything, also after a failed assertion.
// When a test process is SIGKILLed (a ctest timeout), its openvpn children die
// with it (PR_SET_PDEATHSIG), and the next Setup() in any test deletes the
// namespaces and temp dirs whose owning pid is gone.
//
// Observed on 2 cores: Setup ~0.5 s, StartServer ~0.1 s, client connected
// ~0.15-0.25 s after StartClient, StopClient ~1.1 s and StopServer ~2.2 s
// (both wait for their exit notification), teardown ~0.1 s.
//
// Needs root. Tests call UnusableReason() first and skip when it says why.
// Not thread-safe: use a rig from the test's thread.

#include <sys/types.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "tests/support/netns_rig.h"
#include "tests/support/process.h"

namespace warden::testing {

struct OpenVpnRigOptions {
  // --management-client-auth: every CONNECT waits for client-auth/client-deny.
  // When false, the server accepts any username and password
  // (--auth-user-pass-verify /bin/true; OpenVPN refuses --verify-client-cert
  // none without some password check).
  bool management_client_auth = true;
  // --management-hold: the server accepts no client until its management
  // client (the agent) says "hold release", so no login made while the agent
  // is away goes unanswered. StartServer() then waits only for the socket.
  bool management_hold = false;
  // Password of the management interface; empty means none.
  std::string management_password;
  // --hand-window: how long a client waits for the management client's answer.
  int hand_window_seconds = 10;
  // Client namespaces made by Setup(); at most this many clients run at once.
  int max_clients = 3;
};

class OpenVpnRig {
 public:
  struct Client {
    std::string name;
    std::string ns;
    std::string log_path;
    std::unique_ptr<Process> process;  // null when the client could not start
    int slot = -1;                     // index of its namespace; -1 once stopped
  };

  // Why the rig cannot run here ("" when it can): not root, a missing tool
  // (openvpn, openssl, ip, ping), no /dev/net/tun (created with mknod when
  // missing), or no permission to make network namespaces.
  static std::string UnusableReason();

  // {"ip", "netns", "exec", ns}: prefix a command with it to run it in `ns`.
  static std::vector<std::string> NsExecPrefix(const std::string& ns);

  explicit OpenVpnRig(OpenVpnRigOptions options = {});
  // Kills every process the rig started, deletes its namespaces and its temp
  // dir. When the current test has failed, prints the OpenVPN logs first.
  ~OpenVpnRig();

  OpenVpnRig(const OpenVpnRig&) = delete;
  OpenVpnRig& operator=(const OpenVpnRig&) = delete;

  // Namespaces, bridge, veths, addresses; a CA and a server certificate
  // (EC P-256, EKU serverAuth, CN server_name()).
  absl::Status Setup();
  // Starts openvpn in the server namespace; returns when it has completed its
  // initialization and the management socket exists.
  absl::Status StartServer();
  // SIGTERM, then SIGKILL after 10 s. Clients are told to reconnect
  // (--explicit-exit-notify) and keep trying every second.
  void StopServer();
  // StopServer() and StartServer() with the same configuration; the server
  // log continues in the same file. Clients reconnect ~1-1.5 s later.
  absl::Status RestartServer();

  // Starts openvpn --client in a free client namespace with these
  // credentials. On failure (no free slot) the test fails and the returned
  // client has no process; every wait on it returns false.
  Client& StartClient(const std::string& name, const std::string& username,
                      const std::string& password);
  // SIGTERM (the client sends an exit notification, so the server sees the
  // disconnect at once), SIGKILL after 5 s. Frees its namespace for a new client.
  void StopClient(Client& client);
  // Waits until the client's log shows `connections` completed initializations
  // ("Initialization Sequence Completed"); 2 after a reconnect. False when the
  // client exits first or the timeout passes.
  bool WaitClientConnected(const Client& client, absl::Duration timeout, int connections = 1);
  // The IPv4 address of the client's tun0 ("" when it has none).
  std::string ClientTunnelIp(const Client& client);
  // ping -c1 -W1 from the client's namespace, repeated until it answers or the timeout passes.
  bool Ping(const Client& client, const std::string& address, absl::Duration timeout);
  bool ClientExited(const Client& client);
  std::string ClientLog(const Client& client) const;
  std::string ServerLog() const;

  // Runs a short command in `ns`; returns its exit code (-1: timeout or could not start).
  int RunInNs(const std::string& ns, const std::vector<std::string>& argv,
              absl::Duration timeout = absl::Seconds(10), std::string* output = nullptr);

  const std::string& management_socket() const { return management_socket_; }
  const std::string& server_ns() const { return server_ns_; }
  // The server's address on the bridge, which clients connect to (udp4 port 1194).
  const std::string& server_address() const { return server_address_; }
  std::string server_tunnel_ip() const;
  // The CN of the server certificate; clients check it with --verify-x509-name.
  std::string server_name() const { return "ovpn-test"; }
  // The rig's private temp dir (certificates, configs, logs); deleted with the rig.
  const std::string& dir() const { return dir_; }

 private:
  absl::Status Ip(const std::vector<std::string>& args);
  absl::Status Openssl(const std::vector<std::string>& args);
  absl::Status MakePki();
  void Teardown();
  void DumpLogs() const;

  OpenVpnRigOptions options_;
  std::string tag_;      // "<pid>-<random>"
  std::string net_;      // "10.B.C": the bridge subnet is net_.0/24
  std::string tun_net_;  // "10.B.C+1": the tunnel subnet
  std::string dir_;
  std::string server_ns_;
  std::string server_address_;
  std::string management_socket_;
  std::string server_log_;
  std::vector<std::string> client_ns_;  // one per slot
  std::vector<bool> slot_busy_;
  std::vector<std::string> namespaces_made_;  // deleted by the destructor
  std::unique_ptr<Process> server_;
  std::deque<Client> clients_;  // a deque keeps references stable
};

}  // namespace warden::testing
