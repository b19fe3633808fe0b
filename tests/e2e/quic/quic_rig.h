#pragma once

// Network namespaces for the QUIC tunnel's end-to-end tests. The agent runs
// in the test's own namespace (so it reaches warden-control on 127.0.0.1);
// its TUN device and pool live there too, on a random 10.B.C.0/24. Each
// client gets a namespace joined to the root namespace by a veth pair on its
// own /30 of 10.B.C+1.0/24 and runs warden-connect there:
//
//   root ns:  agent (udp 0.0.0.0:<port>), tun "wqs<pid>n<k>" 10.B.C.1/24,
//             veth "qv<pid>n<k>c<i>" 10.B.C+1.(4i+1)/30
//   qrig<pid>-<k>-c<i>:  veth peer 10.B.C+1.(4i+2)/30, warden-connect's TUN
//
// Deleting a namespace deletes its veth pair; the TUN devices die with the
// processes that hold them. Namespaces of a killed test are swept by the next
// rig (names carry the owning pid).

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/support/netns_rig.h"
#include "tests/support/process.h"

namespace warden::testing {

class QuicRig {
 public:
  struct Client {
    int index = 0;
    std::string ns;
    std::string server_ip;  // the agent, as this client reaches it
    std::string tun;        // the name warden-connect gives its device
  };

  // Why the rig cannot run here ("" when it can).
  static std::string UnusableReason();

  QuicRig();
  ~QuicRig();
  QuicRig(const QuicRig&) = delete;
  QuicRig& operator=(const QuicRig&) = delete;

  absl::Status Setup();
  absl::StatusOr<Client> AddClient();

  const std::string& pool() const { return pool_; }
  const std::string& gateway() const { return gateway_; }
  const std::string& server_tun() const { return server_tun_; }

  // A command in the client's namespace.
  ExecResult InClient(const Client& client, std::vector<std::string> argv,
                      absl::Duration timeout = absl::Seconds(10)) const;
  // A long-running process in the client's namespace (warden-connect, iperf3).
  std::unique_ptr<Process> StartInClient(const Client& client, const std::string& binary,
                                         std::vector<std::string> args,
                                         const std::string& log_path) const;

 private:
  std::string tag_;
  int net_b_ = 0, net_c_ = 0;
  std::string pool_, gateway_, server_tun_;
  std::vector<std::string> namespaces_;
};

}  // namespace warden::testing
