#pragma once

// The agent's own tunnel endpoint: QUIC (ngtcp2 + GnuTLS) on a UDP port,
// IP packets in DATAGRAM frames between each client and one TUN device.
//
// A client finishes TLS (ALPN warden-tunnel/1), sends a TunnelHello on its
// first stream, and waits while the agent asks the control plane (Admit, on
// a small worker pool: never on the loop). Admitted, it gets an address from
// the node's pool and a TunnelWelcome; refused, the connection is closed
// with an application error and the reason. A kill closes it the same way.
//
// Packets: from the client, a packet must be well-formed IPv4 from the
// client's own tunnel address; to the client, the TUN packet's destination
// picks the connection. Either way it is charged to the user's budget
// (UserBudgets) first; malformed, spoofed, oversized and over-budget packets
// are dropped and counted (warden_quic_dropped_packets_total{reason}).
//
// Unauthenticated callers are cheap to turn away (initial_policy.h): an
// Initial is answered statelessly with a Retry (address validation) while
// many connections are half-open or its address has its allowance, and
// refused with a CONNECTION_CLOSE beyond the allowance or the capacity. A
// connection that completed TLS must send its hello within hello_timeout.
// Until it is admitted the agent sends it no keepalives.
//
// Threads: one event loop (epoll over the UDP socket, the TUN device, a
// timer and a task queue) owns every connection. Driver methods called from
// other threads post tasks to it; Inventory and Carries read a snapshot kept
// under a mutex. DriverHost calls (Admit, Opened, Closed, Usage) run on the
// worker pool, in order per session.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/core/driver.h"
#include "agent/drivers/quic/address_pool.h"
#include "agent/drivers/quic/address_validation.h"
#include "agent/drivers/quic/connection_census.h"
#include "agent/drivers/quic/initial_policy.h"
#include "agent/drivers/quic/server_connection.h"
#include "agent/drivers/quic/user_budgets.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/quic/ipv4.h"
#include "common/quic/quic_tls.h"
#include "common/quic/tun_device.h"
#include "common/quic/udp_batch.h"
#include "common/worker_pool.h"

namespace warden::agent::quic {

struct QuicOptions {
  std::string listen = "0.0.0.0:4433";  // host:port; port 0 picks one (tests)
  std::string cert_file;
  std::string key_file;
  std::string tun_name = "wquic0";
  std::string pool = "10.77.0.0/24";
  // CIDRs clients route into the tunnel; empty: the pool itself.
  std::vector<std::string> routes;
  int mtu = 1380;
  absl::Duration idle_timeout = absl::Seconds(30);
  absl::Duration keepalive = absl::Seconds(10);
  absl::Duration usage_interval = absl::Seconds(10);
  size_t max_connections = 4096;
  // Half-open connections at or above which Initials must carry a Retry
  // token; 0: always.
  size_t retry_threshold = 64;
  // Connections per client address (IPv4, or IPv6 /64); 0: no limit.
  size_t max_connections_per_address = 16;
  // From the end of the TLS handshake to a valid hello.
  absl::Duration hello_timeout = absl::Seconds(5);
  absl::Duration retry_token_lifetime = absl::Seconds(10);
  int admit_threads = 4;
  size_t admit_queue = 1024;
};

class QuicDriver final : public Driver, private ConnectionOwner {
 public:
  // `clock` dates the sessions; the loop's own timers run on the monotonic clock.
  QuicDriver(QuicOptions options, metrics::Registry& metrics,
             const Clock& clock = RealClock::Get());
  ~QuicDriver() override;

  std::string name() const override { return "quic"; }
  // Loads the certificate, opens and configures the TUN device, binds the
  // UDP port, starts the loop.
  absl::Status Start(DriverHost& host) override;
  // Closes every connection (kShutdown, reported Closed), stops the loop.
  void Stop() override;
  bool EndsSessionsOnStop() const override { return true; }
  std::vector<DriverSession> Inventory() override;
  absl::Status Kill(const std::string& session_key, const std::string& reason) override;
  absl::Status SetBandwidth(const std::string& username, int64_t bytes_per_second) override;
  bool Carries(const std::string& session_key) override;

  // The bound UDP port (after Start).
  int port() const { return port_; }

 private:
  // ConnectionOwner (on the loop)
  void OnHello(ServerConnection& connection, v1::TunnelHello hello) override;
  void OnClientPacket(ServerConnection& connection, const uint8_t* data, size_t size) override;
  void OnConnectionId(ServerConnection& connection, const ngtcp2_cid& cid, bool issued) override;
  void OnHandshakeCompleted(ServerConnection& connection) override;

  void Run();
  void Post(std::function<void()> task);
  void RunTasks();
  void ReadUdp(uint64_t now);
  void ReadTun(uint64_t now);
  void HandleTimers(uint64_t now);
  // A client Initial that belongs to no connection: accept, Retry or refuse.
  void Accept(const ngtcp2_pkt_hd& header, const ngtcp2_path& path, const uint8_t* data,
              size_t size, uint64_t now);
  void SendRetry(const ngtcp2_pkt_hd& header, const ngtcp2_path& path, uint64_t now);
  void RefuseStatelessly(const ngtcp2_pkt_hd& header, const ngtcp2_path& path,
                         InitialVerdict verdict);
  void Deliver(ServerConnection& connection, const ngtcp2_path& path, const uint8_t* data,
               size_t size, uint64_t now);
  // Writes what the connection has due and re-arms its timer; closes it on error.
  void Service(ServerConnection& connection, uint64_t now);
  void Touch(ServerConnection& connection) { touched_.insert(&connection); }
  // Start's steps: the address pool and routes, the limits, the UDP socket,
  // the event loop.
  absl::StatusOr<warden::quic::Ipv4Prefix> ConfigureAddresses();
  absl::Status ConfigureLimits();
  absl::Status BindUdp();
  absl::Status StartLoop();
  void FinishAdmission(const std::string& session_key, const AdmitAnswer& answer);
  // Closes a connection the control plane refused, saying why.
  void Refuse(ServerConnection& connection, const AdmitAnswer& answer, uint64_t now);
  v1::TunnelWelcome WelcomeFor(uint32_t address, const AdmitAnswer& answer) const;
  // An admitted connection: into the inventory, and reported Opened.
  void Publish(const ServerConnection& connection, int64_t bytes_per_second);
  // `result` counts a connection that ends before admission
  // (warden_quic_connections_total).
  void Close(ServerConnection& connection, warden::quic::CloseCode code, const std::string& reason,
             uint64_t now, absl::string_view result = "failed_handshake");
  // A closed connection is kept for three PTOs to repeat its close, then erased.
  void Forget(ServerConnection& connection);
  void ReportUsage(ServerConnection& connection, uint64_t now);
  void UpdateTimer(ServerConnection& connection, uint64_t deadline);
  void ArmTimer();
  ServerConnection* ConnectionByKey(const std::string& session_key);
  void Drop(const char* reason);

  const QuicOptions options_;
  metrics::Registry& metrics_;
  const Clock& clock_;
  DriverHost* host_ = nullptr;
  std::shared_ptr<warden::quic::TlsCredentials> credentials_;
  std::unique_ptr<warden::quic::TunDevice> tun_;
  std::unique_ptr<AddressPool> pool_;
  std::vector<std::string> client_routes_;
  ServerConnectionOptions connection_options_;
  EndpointLimits limits_;
  uint64_t hello_timeout_ns_ = 0;
  std::optional<RetryTokens> retry_tokens_;
  int udp_fd_ = -1, epoll_fd_ = -1, task_fd_ = -1, timer_fd_ = -1;
  int port_ = 0;
  sockaddr_storage local_address_{};
  socklen_t local_address_length_ = 0;
  std::unique_ptr<warden::quic::UdpBatch> batch_;
  std::vector<uint8_t> udp_buffers_;  // recvmmsg slots
  std::vector<uint8_t> tun_buffer_;
  std::unique_ptr<WorkerPool> host_calls_;
  std::thread loop_;
  std::atomic<bool> stopping_{false};

  // Loop-owned.
  absl::flat_hash_map<std::string, std::unique_ptr<ServerConnection>> connections_;  // by key
  absl::flat_hash_map<std::string, ServerConnection*> by_cid_;
  absl::flat_hash_map<uint32_t, ServerConnection*> by_address_;
  std::set<std::pair<uint64_t, ServerConnection*>> timers_;
  std::set<ServerConnection*> touched_;
  UserBudgets budgets_;
  ConnectionCensus census_;
  uint64_t next_usage_sweep_ = 0;

  absl::Mutex tasks_mu_;
  std::vector<std::function<void()>> tasks_ ABSL_GUARDED_BY(tasks_mu_);

  mutable absl::Mutex snapshot_mu_;
  absl::flat_hash_map<std::string, DriverSession> snapshot_ ABSL_GUARDED_BY(snapshot_mu_);

  metrics::Family<metrics::Counter>& dropped_;
  metrics::Family<metrics::Counter>& connections_total_;
  metrics::Counter& retries_sent_;
  // Per packet: plain atomics with one writer (the loop), read at scrape.
  std::atomic<uint64_t> packets_from_clients_{0}, packets_to_clients_{0};
  std::atomic<uint64_t> bytes_from_clients_{0}, bytes_to_clients_{0};
  std::atomic<int64_t> live_connections_{0};
};

}  // namespace warden::agent::quic
