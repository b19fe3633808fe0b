#pragma once

// The agent's core: between the drivers (DriverHost) and the control plane
// (a ControlClient it asks, a LinkHandler the link calls). It remembers which
// session id the control plane gave each connection, routes commands to the
// driver carrying the session, and applies the fail mode when the control
// plane cannot be asked.

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/core/control_client.h"
#include "agent/core/driver.h"
#include "agent/core/usage_sequence.h"
#include "common/clock.h"
#include "common/metrics.h"

namespace warden::agent {

enum class FailMode { kClosed, kOpen };

struct CoreOptions {
  FailMode fail_mode = FailMode::kClosed;
  // With kOpen: users admitted on this node within this window (and, for
  // passwords, with the same password) are let in while the control plane
  // is unreachable; the reconcile on reconnect applies the rules to them.
  absl::Duration fail_open_window = absl::Minutes(15);
  // One budget for an admission, so that a driver's client hears back within
  // it: the wait for an unanswered Hello and the call to the control plane
  // share it. Spent, the admission is one the control plane could not answer.
  absl::Duration admit_timeout = absl::Seconds(5);
};

class AgentCore final : public DriverHost, public LinkHandler {
 public:
  AgentCore(CoreOptions options, std::vector<Driver*> drivers, const Clock& clock,
            metrics::Registry& metrics);

  // Wiring: the link is made with this core as its handler, then set here,
  // before any driver starts.
  void SetControlClient(ControlClient* client) { client_ = client; }

  // DriverHost
  AdmitAnswer Admit(const AdmitQuery& query) override;
  void Opened(const std::string& session_key, const std::string& tunnel_address) override;
  void Closed(const std::string& session_key, const std::string& reason, int64_t rx_bytes,
              int64_t tx_bytes) override;
  void Usage(const std::string& session_key, int64_t rx_bytes, int64_t tx_bytes) override;

  // LinkHandler
  std::vector<v1::InventorySession> Inventory() override;
  std::vector<v1::WireGuardInterface> WireGuardInterfaces() override;
  void OnWelcome(const v1::Welcome& welcome) override;
  v1::CommandResult Execute(const v1::Command& command) override;
  void OnLinkState(bool up) override;
  void HelloSettled() override;

  bool draining() const;

 private:
  struct Entry {
    std::string session_id;  // empty: admitted offline, or not yet known
    std::string user_id;
    std::string username;
    Protocol protocol = Protocol::kOpenVpn;
    // Admitted since the last inventory was taken: the driver may not list
    // it yet (the answer is on its way to it), so the next inventory names
    // it from here.
    bool since_last_inventory = false;
  };
  struct RecentAdmission {
    absl::Time at;
    std::string password_digest;  // empty for users the driver vouches for
  };

  AdmitAnswer AdmitOnce(const AdmitQuery& query);
  AdmitAnswer AdmitOffline(const AdmitQuery& query, const absl::Status& why);
  // The connection was refused after an Admit whose answer never came: the
  // control plane closes whatever that attempt may have committed.
  void ReportAbandoned(const std::string& session_key, const std::string& attempt_id,
                       const absl::Status& why);
  std::string Digest(const std::string& username, const std::string& password) const;
  Driver* DriverCarrying(const std::string& session_key);
  absl::Status Kill(const v1::Command& command);
  absl::Status SetBandwidth(const v1::Command& command);
  // ADD_PEER / REMOVE_PEER, to every driver that carries peers.
  absl::Status ChangePeer(const v1::Command& command);

  const CoreOptions options_;
  const std::vector<Driver*> drivers_;
  const Clock& clock_;
  UsageSequence usage_sequence_;
  const std::string salt_;  // per process: digests never leave memory
  ControlClient* client_ = nullptr;

  metrics::Family<metrics::Counter>& admissions_;
  metrics::Histogram& admit_duration_;
  metrics::Family<metrics::Counter>& operations_;

  mutable absl::Mutex mu_;
  std::map<std::string, Entry> sessions_ ABSL_GUARDED_BY(mu_);          // by session key
  std::map<std::string, RecentAdmission> recent_ ABSL_GUARDED_BY(mu_);  // by username
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  // Between an inventory and its HelloSettled, admissions wait; the
  // inventory waits for those already asked.
  bool hello_pending_ ABSL_GUARDED_BY(mu_) = false;
  int admissions_asked_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace warden::agent
