#pragma once

// A driver with no VPN behind it, for the link's own tests and for trying
// Warden on a laptop (./scripts/memctl): "connections" are opened and closed
// through a unix control socket, one line per request:
//
//   open <key> <username> [<password> | wct_<ticket>] [label=<label>]
//        [protocol=openvpn|wireguard|quic]
//                                      → admitted <session id> | denied <REASON> <message>
//   close <key> [rx_bytes tx_bytes]    → ok | unknown
//   list                               → session <key> <username> <protocol> <label> ... end
//   killed                             → killed <key> <reason> ... end
//   limits                             → limit <username> <bytes/s> ... end
//
// Words holding a space, '%' or '=' are percent-encoded (memory_protocol.h),
// so any password or label fits. Without a password or ticket the driver
// vouches for the user, as a gateway that authenticates them would (the
// control plane believes that only of a trusted node). The label defaults to
// the key, the protocol to openvpn.
//
// Its sessions are kept in "<socket>.state", so that they outlive an agent
// restart as a real VPN server's connections would. Not a product feature.

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "agent/core/driver.h"
#include "agent/drivers/memory/memory_protocol.h"
#include "common/clock.h"

namespace warden::agent {

class MemoryDriver final : public Driver {
 public:
  // `clock` dates the sessions.
  explicit MemoryDriver(std::string socket_path, const Clock& clock = RealClock::Get());
  ~MemoryDriver() override;

  std::string name() const override { return "memory"; }
  absl::Status Start(DriverHost& host) override;
  void Stop() override;
  std::vector<DriverSession> Inventory() override;
  absl::Status Kill(const std::string& session_key, const std::string& reason) override;
  absl::Status SetBandwidth(const std::string& username, int64_t bytes_per_second) override;
  bool Carries(const std::string& session_key) override;

 private:
  void Serve();
  std::string Handle(const std::string& line);
  std::string HandleOpen(const memory::Request& request);
  std::string HandleClose(const memory::Request& request);
  void SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Load();

  const std::string socket_path_;
  const std::string state_path_;
  const Clock& clock_;
  DriverHost* host_ = nullptr;
  int listen_fd_ = -1;
  std::thread thread_;

  absl::Mutex mu_;
  std::map<std::string, DriverSession> sessions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::string, std::string>> killed_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> limits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::agent
