// warden-control: parse configuration, start, wait for a signal, stop.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "controlplane/control_plane.h"

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts, so every thread
  // inherits the mask and only sigwait() below receives them.
  // A shell starts background jobs with SIGINT ignored; an ignored signal
  // never reaches sigwait(), so restore the default first.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Abseil's lock-order graph costs a few percent on the admission path;
  // the tests, which run the same code in process, keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  warden::control::ControlPlaneConfig config;
  std::string log_level = "info";
  std::string log_format = "text";
  int acquire_timeout_ms = 2000;
  int statement_timeout_ms = 15000;
  int db_wait_seconds = 30;
  int heartbeat_seconds = 10;
  uint64_t argon2_memory_kib = config.password_cost.mem_limit_bytes / 1024;

  CLI::App app{"warden-control: the Warden session control plane"};
  app.option_defaults()->always_capture_default();
  app.add_option("--listen", config.listen, "gRPC listen address (host:port)")
      ->envname("WARDEN_LISTEN");
  app.add_option("--admin-listen", config.admin_listen,
                 "a separate address for the admin API (AdminService, SessionService)")
      ->envname("WARDEN_ADMIN_LISTEN");
  app.add_option("--agent-listen", config.agent_listen,
                 "a separate address for the agent API, so the admin API need not face VPN nodes")
      ->envname("WARDEN_AGENT_LISTEN");
  app.add_option("--tls-cert", config.tls_cert, "server certificate chain (PEM)")
      ->envname("WARDEN_TLS_CERT");
  app.add_option("--tls-key", config.tls_key, "server private key (PEM)")
      ->envname("WARDEN_TLS_KEY");
  app.add_option("--client-ca", config.client_ca,
                 "CA (PEM) for agent client certificates; agents must then present one naming "
                 "their node (mTLS)")
      ->envname("WARDEN_CLIENT_CA");
  app.add_flag("--insecure", config.insecure,
               "serve plaintext (no TLS): only on a private network or for tests")
      ->envname("WARDEN_INSECURE");
  app.add_option("--metrics-listen", config.metrics_listen,
                 "serve Prometheus /metrics over HTTP on this address (host:port; empty = off)")
      ->envname("WARDEN_METRICS_LISTEN");
  app.add_option("--database-url", config.database_url,
                 "PostgreSQL URL, e.g. postgresql://warden@db:5432/warden?sslmode=verify-full"
                 "&sslrootcert=/etc/warden/db-ca.pem (libpq's default sslmode is prefer: "
                 "encrypted if the server offers it, never verified)")
      ->envname("WARDEN_DATABASE_URL");
  app.add_option("--db-pool-size", config.db_pool_size, "database connections (and DB workers)")
      ->envname("WARDEN_DB_POOL_SIZE")
      ->check(CLI::Range(1, 1000));
  app.add_option("--db-acquire-timeout-ms", acquire_timeout_ms,
                 "wait for a free connection before answering UNAVAILABLE")
      ->envname("WARDEN_DB_ACQUIRE_TIMEOUT_MS")
      ->check(CLI::Range(1, 600000));
  app.add_option("--db-statement-timeout-ms", statement_timeout_ms,
                 "PostgreSQL statement_timeout for every connection")
      ->envname("WARDEN_DB_STATEMENT_TIMEOUT_MS")
      ->check(CLI::Range(1, 3600000));
  app.add_option("--db-wait-seconds", db_wait_seconds,
                 "at start, how long to wait for an unreachable database")
      ->envname("WARDEN_DB_WAIT_SECONDS")
      ->check(CLI::Range(0, 3600));
  app.add_option("--admin-key-file", config.admin_key_file,
                 "file holding the bootstrap admin key; generated (mode 0600) on first start "
                 "when the database has no admin key. WARDEN_ADMIN_KEY takes precedence.")
      ->envname("WARDEN_ADMIN_KEY_FILE");
  app.add_option("--argon2-ops", config.password_cost.ops_limit,
                 "argon2id passes for new password hashes")
      ->envname("WARDEN_ARGON2_OPS")
      ->check(CLI::Range(1, 10));
  app.add_option("--argon2-memory-kib", argon2_memory_kib, "argon2id memory per hash, KiB")
      ->envname("WARDEN_ARGON2_MEMORY_KIB")
      ->check(CLI::Range(8, 4 * 1024 * 1024));
  app.add_option("--password-threads", config.password_threads,
                 "argon2id threads for Login, room passwords and admin password changes "
                 "(0 = one per core); VPN logins have threads of their own")
      ->envname("WARDEN_PASSWORD_THREADS")
      ->check(CLI::Range(0, 256));
  app.add_option("--admission-password-threads", config.admission_password_threads,
                 "argon2id threads only VPN logins (AgentService.Admit with a password) use "
                 "(0 = one per core)")
      ->envname("WARDEN_ADMISSION_PASSWORD_THREADS")
      ->check(CLI::Range(0, 256));
  app.add_option("--login-rate-per-username", config.login_rate_per_username,
                 "Login attempts per minute for one username, on this replica (0 = no limit)")
      ->envname("WARDEN_LOGIN_RATE_PER_USERNAME")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--login-burst-per-username", config.login_burst_per_username,
                 "Login attempts one username may make at once")
      ->envname("WARDEN_LOGIN_BURST_PER_USERNAME")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--login-rate-per-address", config.login_rate_per_address,
                 "Login attempts per minute from one client address (IPv6: one /64), on this "
                 "replica (0 = no limit)")
      ->envname("WARDEN_LOGIN_RATE_PER_ADDRESS")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--login-burst-per-address", config.login_burst_per_address,
                 "Login attempts one client address may make at once")
      ->envname("WARDEN_LOGIN_BURST_PER_ADDRESS")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--login-throttle-max-keys", config.login_throttle_max_keys,
                 "usernames (and, apart, addresses) whose Login bucket is kept in memory")
      ->envname("WARDEN_LOGIN_THROTTLE_MAX_KEYS")
      ->check(CLI::Range(1, 10000000));
  app.add_option("--grpc-max-receive-message-bytes", config.grpc_max_receive_message_bytes,
                 "largest gRPC message accepted (an agent's Hello carries ~150 bytes per live "
                 "session of its node)")
      ->envname("WARDEN_GRPC_MAX_RECEIVE_MESSAGE_BYTES")
      ->check(CLI::Range(4096, 256 << 20));
  app.add_option("--grpc-max-concurrent-streams", config.grpc_max_concurrent_streams,
                 "concurrent calls per client connection; more wait in the client")
      ->envname("WARDEN_GRPC_MAX_CONCURRENT_STREAMS")
      ->check(CLI::Range(1, 100000));
  int min_ping_interval_seconds = 10;
  app.add_option("--grpc-min-ping-interval-seconds", min_ping_interval_seconds,
                 "keepalive pings a client may send while no data flows; faster ones are strikes")
      ->envname("WARDEN_GRPC_MIN_PING_INTERVAL_SECONDS")
      ->check(CLI::Range(0, 3600));
  app.add_option("--grpc-max-ping-strikes", config.grpc_max_ping_strikes,
                 "strikes (pings too often) before the connection is closed")
      ->envname("WARDEN_GRPC_MAX_PING_STRIKES")
      ->check(CLI::Range(0, 100));
  app.add_option("--heartbeat-seconds", heartbeat_seconds,
                 "agent link heartbeat interval; three missed make a node offline")
      ->envname("WARDEN_HEARTBEAT_SECONDS")
      ->check(CLI::Range(1, 600));
  app.add_option("--replica-id", config.replica_id,
                 "this replica's name in the node table (default host:pid)")
      ->envname("WARDEN_REPLICA_ID");
  app.add_option("--wg-pool-v4", config.wg_pool_v4,
                 "IPv4 network WireGuard device addresses come from (host .1 is the server's)")
      ->envname("WARDEN_WG_POOL_V4");
  app.add_option("--wg-pool-v6", config.wg_pool_v6,
                 "IPv6 prefix for WireGuard device addresses, e.g. fd66::/64 (default: none)")
      ->envname("WARDEN_WG_POOL_V6");
  int64_t access_token_seconds = 900, family_lifetime_hours = 720, family_idle_hours = 168;
  int64_t refresh_lease_ms = 5000, connect_ticket_seconds = 30;
  app.add_option("--access-token-seconds", access_token_seconds,
                 "lifetime of a SessionService access token")
      ->envname("WARDEN_ACCESS_TOKEN_SECONDS")
      ->check(CLI::Range(int64_t{30}, int64_t{86400}));
  app.add_option("--family-lifetime-hours", family_lifetime_hours,
                 "absolute lifetime of a login (its refresh token family)")
      ->envname("WARDEN_FAMILY_LIFETIME_HOURS")
      ->check(CLI::Range(int64_t{1}, int64_t{24 * 366}));
  app.add_option("--family-idle-hours", family_idle_hours, "a login unused for this long ends")
      ->envname("WARDEN_FAMILY_IDLE_HOURS")
      ->check(CLI::Range(int64_t{1}, int64_t{24 * 366}));
  app.add_option("--refresh-lease-ms", refresh_lease_ms,
                 "how long one Refresh holds a token's renewal lease")
      ->envname("WARDEN_REFRESH_LEASE_MS")
      ->check(CLI::Range(int64_t{100}, int64_t{60000}));
  app.add_option("--connect-ticket-seconds", connect_ticket_seconds, "lifetime of a connect ticket")
      ->envname("WARDEN_CONNECT_TICKET_SECONDS")
      ->check(CLI::Range(int64_t{5}, int64_t{600}));
  app.add_option("--max-outstanding-connect-tickets", config.max_outstanding_connect_tickets,
                 "unused connect tickets fleet-wide, approximately (0 = no cap; each user may "
                 "hold 10)")
      ->envname("WARDEN_MAX_OUTSTANDING_CONNECT_TICKETS")
      ->check(CLI::Range(0, 100000000));
  int64_t signal_sweep_ms = 5000, signal_empty_grace_seconds = 60;
  int64_t signal_max_ttl_seconds = 86400, signal_drain_seconds = 5;
  app.add_option("--signal-ws-listen", config.signal_ws_listen,
                 "serve the signalling protocol as JSON over WebSocket at ws://<this>/v1/signal "
                 "(host:port; empty = off)")
      ->envname("WARDEN_SIGNAL_WS_LISTEN");
  app.add_option("--signal-ws-max-connections", config.signal_ws_max_connections,
                 "WebSocket signalling connections served at once (one thread each)")
      ->envname("WARDEN_SIGNAL_WS_MAX_CONNECTIONS")
      ->check(CLI::Range(1, 10000));
  app.add_option("--signal-ws-max-connections-per-address",
                 config.signal_ws_max_connections_per_address,
                 "WebSocket signalling connections one client address may hold; more are "
                 "answered 429")
      ->envname("WARDEN_SIGNAL_WS_MAX_CONNECTIONS_PER_ADDRESS")
      ->check(CLI::Range(1, 10000));
  app.add_option("--signal-ws-max-frame-bytes", config.signal_ws_max_frame_bytes,
                 "the largest WebSocket frame a client may send; a bigger one is refused from "
                 "its header, before it is read, and ends the connection")
      ->envname("WARDEN_SIGNAL_WS_MAX_FRAME_BYTES")
      ->check(CLI::Range(uint64_t{1024}, uint64_t{16} << 20));
  app.add_option("--signal-ws-tls-cert", config.signal_ws_tls_cert,
                 "certificate chain (PEM) for the WebSocket listener: serve wss:// (with "
                 "--signal-ws-tls-key)")
      ->envname("WARDEN_SIGNAL_WS_TLS_CERT");
  app.add_option("--signal-ws-tls-key", config.signal_ws_tls_key,
                 "private key (PEM) for --signal-ws-tls-cert")
      ->envname("WARDEN_SIGNAL_WS_TLS_KEY");
  int64_t signal_auth_deadline_seconds = 10, credential_recheck_seconds = 30;
  int64_t audit_retention_days = 400;
  app.add_option("--signal-auth-deadline-seconds", signal_auth_deadline_seconds,
                 "a signalling stream that has not authenticated and answered the challenge "
                 "this long after it opened is ended (UNAUTHENTICATED)")
      ->envname("WARDEN_SIGNAL_AUTH_DEADLINE_SECONDS")
      ->check(CLI::Range(int64_t{1}, int64_t{600}));
  app.add_option("--signal-max-streams-per-principal", config.signal_max_streams_per_principal,
                 "signalling streams one user or API key may hold on one replica; more are "
                 "ended with RESOURCE_EXHAUSTED")
      ->envname("WARDEN_SIGNAL_MAX_STREAMS_PER_PRINCIPAL")
      ->check(CLI::Range(1, 100000));
  app.add_option("--signal-max-queued-bytes", config.signal_max_queued_bytes,
                 "events queued for one signalling stream (gRPC or WebSocket), in bytes; a "
                 "client that lets more pile up is disconnected as too slow a reader")
      ->envname("WARDEN_SIGNAL_MAX_QUEUED_BYTES")
      ->check(CLI::Range(size_t{64} << 10, size_t{1} << 30));
  app.add_option("--credential-recheck-seconds", credential_recheck_seconds,
                 "how often the credential of every WatchEvents and signalling stream is "
                 "checked again (revocations and disables end streams at once regardless)")
      ->envname("WARDEN_CREDENTIAL_RECHECK_SECONDS")
      ->check(CLI::Range(int64_t{1}, int64_t{3600}));
  app.add_option("--max-watchers-per-key", config.max_watchers_per_key,
                 "WatchEvents streams one API key may hold on one replica; more are refused "
                 "with RESOURCE_EXHAUSTED")
      ->envname("WARDEN_MAX_WATCHERS_PER_KEY")
      ->check(CLI::Range(1, 10000));
  app.add_option("--audit-retention-days", audit_retention_days,
                 "audit events older than this are deleted by a sweep every replica runs each "
                 "minute (0 = keep forever)")
      ->envname("WARDEN_AUDIT_RETENTION_DAYS")
      ->check(CLI::Range(int64_t{0}, int64_t{36500}));
  app.add_option("--signal-sweep-ms", signal_sweep_ms,
                 "how often each replica sweeps expired and empty rooms and beats its heartbeat")
      ->envname("WARDEN_SIGNAL_SWEEP_MS")
      ->check(CLI::Range(int64_t{100}, int64_t{600000}));
  app.add_option("--signal-empty-grace-seconds", signal_empty_grace_seconds,
                 "a room left empty this long is closed")
      ->envname("WARDEN_SIGNAL_EMPTY_GRACE_SECONDS")
      ->check(CLI::Range(int64_t{0}, int64_t{86400}));
  app.add_option("--signal-max-ttl-seconds", signal_max_ttl_seconds,
                 "the longest lifetime a room may ask for")
      ->envname("WARDEN_SIGNAL_MAX_TTL_SECONDS")
      ->check(CLI::Range(int64_t{60}, int64_t{30 * 86400}));
  app.add_option("--signal-relay-rate", config.signal_relay_rate,
                 "relays one signalling stream may send per second, in bursts of twice that "
                 "(0 = no limit)")
      ->envname("WARDEN_SIGNAL_RELAY_RATE")
      ->check(CLI::Range(0, 1000000));
  app.add_option("--signal-drain-seconds", signal_drain_seconds,
                 "on SIGTERM, how long signalling clients get to reconnect to another replica")
      ->envname("WARDEN_SIGNAL_DRAIN_SECONDS")
      ->check(CLI::Range(int64_t{0}, int64_t{600}));
  int64_t node_offline_close_after_seconds = 900, inventory_adopt_window_seconds = 3600;
  int64_t sweep_seconds = 60;
  app.add_option("--node-offline-close-after", node_offline_close_after_seconds,
                 "seconds a node may stay unheard before its sessions are closed as node_lost "
                 "(their seats freed; adopted again if the node returns with them)")
      ->envname("WARDEN_NODE_OFFLINE_CLOSE_AFTER")
      ->check(CLI::Range(int64_t{30}, int64_t{30 * 86400}));
  app.add_option("--inventory-adopt-window", inventory_adopt_window_seconds,
                 "seconds: a node's inventory may name a user unknown to the control plane only "
                 "if the user had a session on that node within this window (keep it at least "
                 "the agents' --fail-open-window)")
      ->envname("WARDEN_INVENTORY_ADOPT_WINDOW")
      ->check(CLI::Range(int64_t{60}, int64_t{30 * 86400}));
  app.add_option("--sweep-seconds", sweep_seconds,
                 "how often expired tickets and logins are removed and lost nodes' sessions closed")
      ->envname("WARDEN_SWEEP_SECONDS")
      ->check(CLI::Range(int64_t{1}, int64_t{3600}));
  int64_t expiry_warning_hours = 72;
  app.add_option("--expiry-warning-hours", expiry_warning_hours,
                 "record user.expiring this long before an account expires")
      ->envname("WARDEN_EXPIRY_WARNING_HOURS")
      ->check(CLI::Range(int64_t{1}, int64_t{24 * 366}));
  app.add_flag("--deny-message-detail", config.deny_message_detail,
               "tell refused users which nodes hold their seats (administrators always see "
               "them in the audit log)")
      ->envname("WARDEN_DENY_MESSAGE_DETAIL");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->envname("WARDEN_LOG_LEVEL");
  app.add_option("--log-format", log_format, "text|json")->envname("WARDEN_LOG_FORMAT");
  app.add_flag("--migrate-only", config.migrate_only, "apply migrations and exit")
      ->envname("WARDEN_MIGRATE_ONLY");
  CLI11_PARSE(app, argc, argv);

  if (absl::Status status = warden::logging::Configure(log_level, log_format); !status.ok()) {
    std::cerr << "warden-control: " << status.message() << "\n";
    return 2;
  }
  auto log = warden::logging::Get("control.main");
  config.db_acquire_timeout = absl::Milliseconds(acquire_timeout_ms);
  config.db_statement_timeout = absl::Milliseconds(statement_timeout_ms);
  config.db_wait = absl::Seconds(db_wait_seconds);
  config.heartbeat_interval = absl::Seconds(heartbeat_seconds);
  config.password_cost.mem_limit_bytes = argon2_memory_kib * 1024;
  config.access_token_ttl = absl::Seconds(access_token_seconds);
  config.family_lifetime = absl::Hours(family_lifetime_hours);
  config.family_idle_timeout = absl::Hours(family_idle_hours);
  config.refresh_lease = absl::Milliseconds(refresh_lease_ms);
  config.connect_ticket_ttl = absl::Seconds(connect_ticket_seconds);
  config.grpc_min_ping_interval = absl::Seconds(min_ping_interval_seconds);
  config.signal_sweep_interval = absl::Milliseconds(signal_sweep_ms);
  config.signal_empty_grace = absl::Seconds(signal_empty_grace_seconds);
  config.signal_max_ttl = absl::Seconds(signal_max_ttl_seconds);
  config.signal_drain = absl::Seconds(signal_drain_seconds);
  config.node_offline_close_after = absl::Seconds(node_offline_close_after_seconds);
  config.inventory_adopt_window = absl::Seconds(inventory_adopt_window_seconds);
  config.sweep_interval = absl::Seconds(sweep_seconds);
  config.expiry_warning = absl::Hours(expiry_warning_hours);
  config.signal_auth_deadline = absl::Seconds(signal_auth_deadline_seconds);
  config.credential_recheck_interval = absl::Seconds(credential_recheck_seconds);
  config.audit_retention = absl::Hours(24 * audit_retention_days);
  if (const char* key = std::getenv("WARDEN_ADMIN_KEY")) config.admin_key = key;

  auto plane = warden::control::ControlPlane::Start(config);
  if (!plane.ok()) {
    log->critical("cannot start: {}", plane.status().message());
    return 1;
  }
  if (config.migrate_only) {
    log->info("migrations done; exiting (--migrate-only)");
    return 0;
  }
  if (const auto& key = (*plane)->bootstrap().generated_key) {
    // Shown once, on stdout only: never through the logger.
    std::cout << "Admin API key (shown once";
    if (!config.admin_key_file.empty()) std::cout << "; saved in " << config.admin_key_file;
    std::cout << "): " << *key << std::endl;
  }

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log->info("received {}; shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  (*plane)->Shutdown();
  log->info("stopped");
  return 0;
}
