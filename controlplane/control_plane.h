#pragma once

// warden-control as an object: built from its configuration, serving until
// Shutdown. main() and the integration tests both start it this way.

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/secrets.h"
#include "controlplane/bootstrap.h"

namespace grpc {
class Server;
}

namespace warden::control {
namespace admission {
struct DecideOptions;
}
namespace oidc {
struct ProviderConfig;
}
namespace store {
struct AddressPool;
struct DatabaseOptions;
}  // namespace store

struct ControlPlaneConfig {
  std::string listen = "127.0.0.1:50051";
  // Separate ports for the admin API (AdminService, SessionService,
  // AccountService) and the
  // agent API; "" = `listen`. One port serves everything unless either is set.
  std::string admin_listen;
  std::string agent_listen;
  // TLS: server certificate and key (PEM). With client_ca, agents must
  // present a client certificate naming their node. Plaintext needs insecure.
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
  // The three files are read again this often (a renewed certificate is
  // served without a restart).
  absl::Duration tls_reload_interval = absl::Minutes(1);
  bool insecure = false;
  // Prometheus /metrics over HTTP ("" = not served; port 0 = any free port).
  std::string metrics_listen;
  std::string database_url;
  int db_pool_size = 8;
  // Admin lists and statistics read here ("" = the primary), e.g. a
  // standby; while it cannot be reached they read from the primary.
  std::string database_read_url;
  int db_read_pool_size = 4;
  absl::Duration db_acquire_timeout = absl::Seconds(2);
  absl::Duration db_statement_timeout = absl::Seconds(15);
  // How long a call keeps trying through a database failover, within its
  // deadline (0: UNAVAILABLE at once).
  absl::Duration db_failover_wait = absl::Seconds(10);
  // How long start-up waits for an unreachable database before giving up.
  absl::Duration db_wait = absl::Seconds(30);
  std::string admin_key;       // WARDEN_ADMIN_KEY
  std::string admin_key_file;  // where a generated bootstrap key is kept
  secrets::PasswordHashCost password_cost;
  // argon2id threads of the two lanes (common/password_hasher.h): general
  // (Login, room passwords, admin) and admission (VPN logins); 0: one per
  // core each. Memory peaks at (both summed) x the cost's memory.
  int password_threads = 0;
  int admission_password_threads = 0;
  // Work each lane queues before it refuses more at once.
  int password_queue = 256;
  int admission_password_queue = 1000;
  // SessionService.Login attempts per minute and burst, per username and per
  // client address (families/login_throttle.h); a rate of 0 turns it off.
  int login_rate_per_username = 5;
  int login_burst_per_username = 5;
  int login_rate_per_address = 30;
  int login_burst_per_address = 10;
  int login_throttle_max_keys = 65536;
  // AccountService calls per second and burst, per user (families/
  // call_throttle.h); a rate of 0 turns it off. Devices a user may register
  // themselves (0 = no cap).
  int account_rate_per_second = 10;
  int account_burst = 30;
  int account_max_devices = 10;
  // gRPC transport limits, the same on every port. The largest legitimate
  // message is an agent's Hello with its inventory (~150 bytes a session).
  int grpc_max_receive_message_bytes = 4 << 20;
  int grpc_max_concurrent_streams = 200;  // per connection
  // Keepalive pings a client may send while no data flows; more often earns
  // a strike, and grpc_max_ping_strikes + 1 of them close the connection.
  absl::Duration grpc_min_ping_interval = absl::Seconds(10);
  int grpc_max_ping_strikes = 2;
  // A client connection older than this (gRPC adds up to 10% jitter) is
  // sent GOAWAY and closed after the grace period, so that long-lived agent
  // streams spread over the replicas again after a rollout (zero: never).
  absl::Duration grpc_max_connection_age = absl::ZeroDuration();
  absl::Duration grpc_max_connection_age_grace = absl::Seconds(30);
  absl::Duration health_interval = absl::Seconds(1);
  // Agents and the control plane heartbeat at this interval; three missed
  // make a node offline.
  absl::Duration heartbeat_interval = absl::Seconds(10);
  // Names this replica in nodes.attached_replica; default host:pid.
  std::string replica_id;
  bool migrate_only = false;
  // WireGuard device addresses (--wg-pool-v4, --wg-pool-v6; "" = no IPv6).
  std::string wg_pool_v4 = "10.66.0.0/16";
  std::string wg_pool_v6;
  // Login session families (SessionService).
  absl::Duration access_token_ttl = absl::Minutes(15);
  absl::Duration family_lifetime = absl::Hours(24 * 30);
  absl::Duration family_idle_timeout = absl::Hours(24 * 7);
  absl::Duration refresh_lease = absl::Seconds(5);
  absl::Duration connect_ticket_ttl = absl::Seconds(30);
  // Unused connect tickets fleet-wide (approximate; 0 = no cap) and per user.
  int max_outstanding_connect_tickets = 100000;
  // Signalling rooms (SignalService).
  absl::Duration signal_sweep_interval = absl::Seconds(5);
  absl::Duration signal_empty_grace = absl::Seconds(60);
  absl::Duration signal_max_ttl = absl::Hours(24);
  // Relays a signalling stream may send per second (bursts of twice); 0 = no limit.
  int signal_relay_rate = 100;
  // On shutdown, how long signalling clients get to reconnect elsewhere.
  absl::Duration signal_drain = absl::Seconds(5);
  // A signalling stream must authenticate and identify this soon.
  absl::Duration signal_auth_deadline = absl::Seconds(10);
  // Authenticated signalling streams per principal, per replica.
  int signal_max_streams_per_principal = 32;
  // Events queued for one signalling stream (gRPC or WebSocket), in bytes,
  // before it is ended as too slow a reader.
  size_t signal_max_queued_bytes = 1 << 20;
  // The WebSocket JSON bridge ("" = off; port 0 = any free port).
  std::string signal_ws_listen;
  int signal_ws_max_connections = 256;
  // Sessions of a node not heard from for this long are closed as
  // node_lost, freeing their seats (adopted again if the node returns).
  absl::Duration node_offline_close_after = absl::Minutes(15);
  // How recent a user's session on a node must be for the node's inventory
  // to name that user; at least every agent's --fail-open-window.
  absl::Duration inventory_adopt_window = absl::Hours(1);
  // How often housekeeping runs: expired tickets and logins, lost nodes.
  absl::Duration sweep_interval = absl::Minutes(1);
  // Refused users read which nodes hold their seats (administrators always
  // find them in the audit log).
  bool deny_message_detail = false;
  // The policy sweep (time limits) looks at least this often, sooner when a
  // session comes due; `user.expiring` is recorded this long before an
  // account's expiry.
  absl::Duration policy_sweep_max_wait = absl::Seconds(5);
  absl::Duration expiry_warning = absl::Hours(72);
  // Where "now" comes from for admission decisions and time limits (tests
  // move a fake one); null = the real clock. Heartbeats and deadlines keep
  // real time.
  const Clock* policy_clock = nullptr;
  int signal_ws_max_connections_per_address = 16;
  uint64_t signal_ws_max_frame_bytes = 64 * 1024;
  // TLS for the WebSocket listener (PEM; both or neither): wss://.
  std::string signal_ws_tls_cert;
  std::string signal_ws_tls_key;
  // How often every long-lived stream's credential is checked again (a
  // revocation or disable ends streams at once through NOTIFY; this catches
  // logins that expire, and notices lost while the listener reconnected).
  absl::Duration credential_recheck_interval = absl::Seconds(30);
  // WatchEvents streams one API key may hold on this replica.
  int max_watchers_per_key = 8;
  // History (audit events, usage rows per day, closed sessions, webhook
  // deliveries) is kept
  // at least this long, and dropped a time partition at a time (zero = kept
  // forever; usage rows per month always stay); the partitions are looked
  // after this often. Held users' quotas are looked at again this often.
  absl::Duration audit_retention = absl::Hours(24 * 400);
  int usage_daily_retention_days = 400;
  absl::Duration session_history_retention = absl::Hours(24 * 400);
  absl::Duration history_sweep_interval = absl::Minutes(1);
  absl::Duration quota_sweep_interval = absl::Minutes(1);
  // Webhooks: the key that seals signing secrets (none: webhooks cannot be
  // created), whether private addresses may be delivered to, the senders.
  std::string webhook_key_file;
  bool webhook_allow_private_targets = false;
  int webhook_senders = 16;
  int webhook_per_endpoint = 8;
  std::string webhook_retry_schedule = "5s,30s,2m,10m,1h,6h,24h";
  absl::Duration webhook_timeout = absl::Seconds(10);
  absl::Duration webhook_delivery_retention = absl::Hours(24 * 14);
  // Single sign-on: the providers' configuration file ("" = none), Warden's
  // own callback page (where it listens, and the public URL providers send
  // browsers to), and the threads that wait on providers.
  std::string oidc_config;
  std::string oidc_callback_listen;
  std::string oidc_callback_url;
  int oidc_workers = 4;
};

class ControlPlane {
 public:
  // Migrates, bootstraps the admin key, and starts serving (unless
  // migrate_only, in which case it returns after migrating with no server).
  static absl::StatusOr<std::unique_ptr<ControlPlane>> Start(const ControlPlaneConfig& config);
  ~ControlPlane();

  // Stops accepting calls, lets running ones finish (up to `grace`), stops.
  void Shutdown(absl::Duration grace = absl::Seconds(5));

  // The admin API's port (the only one unless the agent API is separate).
  int port() const { return port_; }
  int agent_port() const { return agent_port_; }
  // 0 when metrics are not served.
  int metrics_port() const;
  // 0 when the WebSocket bridge is off.
  int signal_ws_port() const;
  // 0 when Warden's single sign-on callback page is not served.
  int oidc_callback_port() const;
  const metrics::Registry& metrics() const;
  const BootstrapResult& bootstrap() const { return bootstrap_; }
  int schema_version() const { return schema_version_; }

 private:
  struct Parts;
  ControlPlane();
  // Start's steps, in order. The database pool and every store, and the
  // bootstrap admin key.
  absl::Status OpenStores(const ControlPlaneConfig& config,
                          const store::DatabaseOptions& db_options, const store::AddressPool& pool);
  // Database and report workers, the password hasher, API key checks.
  static void StartWorkers(Parts& parts, const ControlPlaneConfig& config);
  // Password checks by lane, and the admission path.
  static void StartAdmission(Parts& parts, const ControlPlaneConfig& config, const Clock& clock,
                             const admission::DecideOptions& decide_options);
  // Links, answers awaited, delivery, the one way to give a command, and the
  // Dispatcher over them; started.
  static void StartCommandPath(Parts& parts, const ControlPlaneConfig& config,
                               const std::string& replica_id,
                               const admission::DecideOptions& decide_options);
  // Stream credential checks, the audit feed and its retention, signalling.
  static void StartFeedsAndSignal(Parts& parts, const ControlPlaneConfig& config,
                                  const std::string& replica_id);
  // The gRPC services over the domain.
  static void MakeServices(Parts& parts, const ControlPlaneConfig& config);
  // The gRPC servers (one port, or admin and agent apart), their health, and
  // the WebSocket bridge.
  absl::Status StartServers(const ControlPlaneConfig& config);
  // Expired tickets and logins, lost nodes' sessions, and the policy sweep.
  static void StartSweeps(Parts& parts, const ControlPlaneConfig& config, const Clock& clock);
  // The configured OpenID Providers and Warden's callback page.
  absl::Status StartSingleSignOn(const ControlPlaneConfig& config,
                                 std::vector<oidc::ProviderConfig> providers);
  static absl::Status StartWebhooks(Parts& parts, const ControlPlaneConfig& config);

  std::unique_ptr<Parts> parts_;
  int port_ = 0;
  int agent_port_ = 0;
  int schema_version_ = 0;
  BootstrapResult bootstrap_;
};

}  // namespace warden::control
