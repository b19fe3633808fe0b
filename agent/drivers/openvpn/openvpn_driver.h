#pragma once

// Enforces Warden's decisions on an unmodified OpenVPN server through its
// management interface (started with --management … --management-client-auth):
// every CONNECT and REAUTH is asked of the control plane and answered with
// client-auth or client-deny; a kill is client-kill <cid> HALT, so that a
// killed client does not reconnect a second later and evict its evictor.
//
// Session keys are "ovpn:<server name>:<cid>@<server pid>": OpenVPN numbers
// clients from 0 again after a restart, and the pid tells its lives apart.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/core/driver.h"
#include "agent/drivers/openvpn/management_connection.h"
#include "common/clock.h"
#include "common/worker_pool.h"

namespace warden::agent::openvpn {

struct OpenVpnOptions {
  std::string server_name = "openvpn";
  std::string management;     // "unix:/path" or "host:port"
  std::string password_file;  // the management password, when OpenVPN asks for one
  absl::Duration bytecount_interval = absl::Seconds(10);
  std::string kill_message = "HALT";  // or RESTART: the client then reconnects at once
  // Every CONNECT is answered within this, whatever the control plane does;
  // keep it below OpenVPN's --hand-window (60 s by default).
  absl::Duration decision_deadline = absl::Seconds(8);
  absl::Duration command_timeout = absl::Seconds(5);
  absl::Duration reconnect_cap = absl::Seconds(5);
};

// "mgmt=unix:/run/openvpn/udp.sock;name=udp;password-file=/etc/…;bytecount=10;
//  kill=HALT;deadline=8" (only mgmt is required).
absl::StatusOr<OpenVpnOptions> ParseOpenVpnSpec(absl::string_view spec);

class OpenVpnDriver final : public Driver {
 public:
  // `clock` dates sessions and times the decision deadline.
  explicit OpenVpnDriver(OpenVpnOptions options, const Clock& clock = RealClock::Get());
  ~OpenVpnDriver() override;

  std::string name() const override { return "openvpn"; }
  // Returns once the first inventory is read (or OpenVPN could not be
  // reached in a few seconds), so the agent's first hello is complete.
  absl::Status Start(DriverHost& host) override;
  void Stop() override;
  std::vector<DriverSession> Inventory() override;
  absl::Status Kill(const std::string& session_key, const std::string& reason) override;
  absl::Status SetBandwidth(const std::string& username, int64_t bytes_per_second) override;
  bool Carries(const std::string& session_key) override;

 private:
  enum class ClientState { kAuthorizing, kAuthorized, kEstablished, kKilled };
  struct Client {
    int64_t cid = -1;
    std::string key;
    std::string username;
    std::string device_label;
    std::string client_address;
    std::string tunnel_address;
    ClientState state = ClientState::kAuthorizing;
    absl::Time opened_at;
    int64_t rx_bytes = 0;
    int64_t tx_bytes = 0;
    std::string kill_reason;
    absl::Time kill_acked_at;
    // SHA-256 of the connect ticket the client logged in with: OpenVPN
    // clients send the same (spent) secret again on every renegotiation.
    std::string ticket_digest;
  };
  // A CONNECT or REAUTH that waits for its answer.
  struct PendingDecision {
    int64_t cid = -1;
    int64_t kid = -1;
    bool reauth = false;
    std::string key;
    absl::Time due;
  };
  // DriverHost calls are collected under the lock and made after it.
  using HostCalls = std::vector<std::function<void()>>;

  void Run();
  void Serve(const std::shared_ptr<ManagementConnection>& connection);
  void Greet(ManagementConnection& connection);
  // Asks for the pid and the client list (OnStatus takes both).
  void ReadInventory(ManagementConnection& connection);
  void OnStatus(const absl::StatusOr<ManagementReply>& reply, int64_t pid);
  // OpenVPN restarted (a new pid): its clients are gone.
  void ForgetClientsLocked(int64_t pid, HostCalls& calls) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the client list as the truth: clients that vanished while nobody
  // listened are closed, clients connected before this agent are carried.
  void ReconcileClientsLocked(const StatusReport& report, int64_t pid, HostCalls& calls)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Handle(ManagementConnection& connection, MgmtMessage& message);
  void OnNotification(ManagementConnection& connection, const Notification& note);
  // Input that could not be read: a client that asked is refused, one that
  // left is gone; never left waiting.
  void OnProtocolError(const ProtocolError& error);
  void OnClientEvent(const ClientEvent& event);
  void OnEstablished(const ClientEvent& event, HostCalls& calls);
  void OnDisconnect(const ClientEvent& event, HostCalls& calls);
  void OnConnect(const ClientEvent& event);
  // Records the client as authorizing (or renegotiating), completes `query`
  // with its session key and labels, and starts its decision deadline.
  void AwaitDecisionLocked(const ClientEvent& event, bool reauth, AdmitQuery& query)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Decide(const AdmitQuery& query, int64_t cid, int64_t kid, const AdmitAnswer& answer);
  void DenyOverdue();
  // Sends client-auth or client-deny; false when there is no connection.
  bool SendDecisionLocked(int64_t cid, int64_t kid, const AdmitAnswer& answer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string KeyFor(int64_t cid) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Client* FindByKey(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const OpenVpnOptions options_;
  const Clock& clock_;
  std::string password_;
  DriverHost* host_ = nullptr;
  std::thread thread_;
  std::unique_ptr<WorkerPool> deciders_;
  absl::Notification first_inventory_;
  std::atomic<bool> stopping_{false};
  absl::Notification stopped_;  // wakes the reconnect wait

  absl::Mutex mu_;
  std::shared_ptr<ManagementConnection> connection_ ABSL_GUARDED_BY(mu_);
  int64_t server_pid_ ABSL_GUARDED_BY(mu_) = -1;  // -1 until `pid` answered on this connection
  int64_t last_server_pid_ ABSL_GUARDED_BY(mu_) = -1;
  bool inventory_read_ ABSL_GUARDED_BY(mu_) = false;
  // Started with --management-hold and not yet released: no client list yet.
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<ClientEvent> early_events_ ABSL_GUARDED_BY(mu_);  // before the pid was known
  std::map<int64_t, Client> clients_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<int64_t, int64_t>, PendingDecision> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::agent::openvpn
