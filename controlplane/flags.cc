#include "controlplane/flags.h"

#include <cstdint>

#include "absl/time/time.h"

namespace warden::control {
namespace {

// A flag given as a whole number of `unit`s, written into `field` as a
// duration; the default shown is what `field` holds now.
CLI::Option* AddDuration(CLI::App& app, const std::string& name, absl::Duration& field,
                         absl::Duration unit, const std::string& description) {
  absl::Duration remainder;
  const int64_t units = absl::IDivDuration(field, unit, &remainder);
  return app
      .add_option_function<int64_t>(
          name, [&field, unit](const int64_t& value) { field = value * unit; }, description)
      ->default_str(std::to_string(units));
}

// Where it serves, with which TLS.
void AddListenFlags(CLI::App& app, ControlPlaneConfig& config) {
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
  AddDuration(app, "--tls-reload-seconds", config.tls_reload_interval, absl::Seconds(1),
              "read --tls-cert, --tls-key and --client-ca again this often: a renewed "
              "certificate (e.g. by cert-manager) is served to new connections without a "
              "restart; replace the files together (a symlink swap, as Kubernetes does)")
      ->envname("WARDEN_TLS_RELOAD_SECONDS")
      ->check(CLI::Range(1, 86400));
  app.add_flag("--insecure", config.insecure,
               "serve plaintext (no TLS): only on a private network or for tests")
      ->envname("WARDEN_INSECURE");
  app.add_option("--metrics-listen", config.metrics_listen,
                 "serve Prometheus /metrics over HTTP on this address (host:port; empty = off)")
      ->envname("WARDEN_METRICS_LISTEN");
  app.add_option("--signal-ws-listen", config.signal_ws_listen,
                 "serve the signalling protocol as JSON over WebSocket at ws://<this>/v1/signal "
                 "(host:port; empty = off)")
      ->envname("WARDEN_SIGNAL_WS_LISTEN");
  app.add_option("--signal-ws-tls-cert", config.signal_ws_tls_cert,
                 "certificate chain (PEM) for the WebSocket listener: serve wss:// (with "
                 "--signal-ws-tls-key)")
      ->envname("WARDEN_SIGNAL_WS_TLS_CERT");
  app.add_option("--signal-ws-tls-key", config.signal_ws_tls_key,
                 "private key (PEM) for --signal-ws-tls-cert")
      ->envname("WARDEN_SIGNAL_WS_TLS_KEY");
}

// PostgreSQL, and this replica's name.
void AddDatabaseFlags(CLI::App& app, ControlPlaneConfig& config) {
  app.add_option("--database-url", config.database_url,
                 "PostgreSQL URL, e.g. postgresql://warden@db:5432/warden?sslmode=verify-full"
                 "&sslrootcert=/etc/warden/db-ca.pem (libpq's default sslmode is prefer: "
                 "encrypted if the server offers it, never verified)")
      ->envname("WARDEN_DATABASE_URL");
  app.add_option("--database-read-url", config.database_read_url,
                 "PostgreSQL URL admin lists and statistics read from, e.g. a standby "
                 "(postgresql://h1,h2/warden?target_session_attrs=prefer-standby); they lag it "
                 "by the replication delay, and read from --database-url while it cannot be "
                 "reached")
      ->envname("WARDEN_DATABASE_READ_URL");
  app.add_option("--db-read-pool-size", config.db_read_pool_size,
                 "connections to --database-read-url")
      ->envname("WARDEN_DB_READ_POOL_SIZE")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--db-pool-size", config.db_pool_size, "database workers, each with a connection (and as many pipelined connections for admissions)")
      ->envname("WARDEN_DB_POOL_SIZE")
      ->check(CLI::Range(1, 1000));
  AddDuration(app, "--db-acquire-timeout-ms", config.db_acquire_timeout, absl::Milliseconds(1),
              "wait for a free connection before answering UNAVAILABLE")
      ->envname("WARDEN_DB_ACQUIRE_TIMEOUT_MS")
      ->check(CLI::Range(1, 600000));
  AddDuration(app, "--db-statement-timeout-ms", config.db_statement_timeout, absl::Milliseconds(1),
              "PostgreSQL statement_timeout for every connection")
      ->envname("WARDEN_DB_STATEMENT_TIMEOUT_MS")
      ->check(CLI::Range(1, 3600000));
  AddDuration(app, "--db-failover-wait-ms", config.db_failover_wait, absl::Milliseconds(1),
              "how long a call keeps trying through a database failover (a lost or "
              "refused connection, a primary turned standby) before answering UNAVAILABLE; "
              "never past the call's deadline; 0 = answer at once")
      ->envname("WARDEN_DB_FAILOVER_WAIT_MS")
      ->check(CLI::Range(0, 600000));
  AddDuration(app, "--db-wait-seconds", config.db_wait, absl::Seconds(1),
              "at start, how long to wait for an unreachable database")
      ->envname("WARDEN_DB_WAIT_SECONDS")
      ->check(CLI::Range(0, 3600));
  app.add_option("--replica-id", config.replica_id,
                 "this replica's name in the node table (default host:pid)")
      ->envname("WARDEN_REPLICA_ID");
}

// Passwords, the bootstrap key, login throttling and login families.
void AddCredentialFlags(CLI::App& app, ControlPlaneConfig& config) {
  app.add_option("--admin-key-file", config.admin_key_file,
                 "file holding the bootstrap admin key; generated (mode 0600) on first start "
                 "when the database has no admin key. WARDEN_ADMIN_KEY takes precedence.")
      ->envname("WARDEN_ADMIN_KEY_FILE");
  app.add_option("--argon2-ops", config.password_cost.ops_limit,
                 "argon2id passes for new password hashes")
      ->envname("WARDEN_ARGON2_OPS")
      ->check(CLI::Range(1, 10));
  app.add_option_function<uint64_t>(
         "--argon2-memory-kib",
         [&config](const uint64_t& kib) { config.password_cost.mem_limit_bytes = kib * 1024; },
         "argon2id memory per hash, KiB")
      ->default_str(std::to_string(config.password_cost.mem_limit_bytes / 1024))
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
  app.add_option("--account-rate-per-second", config.account_rate_per_second,
                 "AccountService calls per second for one user, on this replica (0 = no limit)")
      ->envname("WARDEN_ACCOUNT_RATE_PER_SECOND")
      ->check(CLI::Range(0, 100000));
  app.add_option("--account-burst", config.account_burst,
                 "AccountService calls one user may make at once")
      ->envname("WARDEN_ACCOUNT_BURST")
      ->check(CLI::Range(1, 1000000));
  app.add_option("--account-max-devices", config.account_max_devices,
                 "WireGuard devices a user may register through AccountService (0 = no cap; "
                 "administrators' RegisterDevice is not capped)")
      ->envname("WARDEN_ACCOUNT_MAX_DEVICES")
      ->check(CLI::Range(0, 100000));
  AddDuration(app, "--access-token-seconds", config.access_token_ttl, absl::Seconds(1),
              "lifetime of a SessionService access token")
      ->envname("WARDEN_ACCESS_TOKEN_SECONDS")
      ->check(CLI::Range(int64_t{30}, int64_t{86400}));
  AddDuration(app, "--family-lifetime-hours", config.family_lifetime, absl::Hours(1),
              "absolute lifetime of a login (its refresh token family)")
      ->envname("WARDEN_FAMILY_LIFETIME_HOURS")
      ->check(CLI::Range(int64_t{1}, int64_t{24 * 366}));
  AddDuration(app, "--family-idle-hours", config.family_idle_timeout, absl::Hours(1),
              "a login unused for this long ends")
      ->envname("WARDEN_FAMILY_IDLE_HOURS")
      ->check(CLI::Range(int64_t{1}, int64_t{24 * 366}));
  AddDuration(app, "--refresh-lease-ms", config.refresh_lease, absl::Milliseconds(1),
              "how long one Refresh holds a token's renewal lease")
      ->envname("WARDEN_REFRESH_LEASE_MS")
      ->check(CLI::Range(int64_t{100}, int64_t{60000}));
  AddDuration(app, "--connect-ticket-seconds", config.connect_ticket_ttl, absl::Seconds(1),
              "lifetime of a connect ticket")
      ->envname("WARDEN_CONNECT_TICKET_SECONDS")
      ->check(CLI::Range(int64_t{5}, int64_t{600}));
  app.add_option("--max-outstanding-connect-tickets", config.max_outstanding_connect_tickets,
                 "unused connect tickets fleet-wide, approximately (0 = no cap; each user may "
                 "hold 10)")
      ->envname("WARDEN_MAX_OUTSTANDING_CONNECT_TICKETS")
      ->check(CLI::Range(0, 100000000));
}

// GRPC transport limits, the agent link and long-lived streams.
void AddStreamFlags(CLI::App& app, ControlPlaneConfig& config) {
  app.add_option("--grpc-max-receive-message-bytes", config.grpc_max_receive_message_bytes,
                 "largest gRPC message accepted (an agent's Hello carries ~150 bytes per live "
                 "session of its node)")
      ->envname("WARDEN_GRPC_MAX_RECEIVE_MESSAGE_BYTES")
      ->check(CLI::Range(4096, 256 << 20));
  app.add_option("--grpc-max-concurrent-streams", config.grpc_max_concurrent_streams,
                 "concurrent calls per client connection; more wait in the client")
      ->envname("WARDEN_GRPC_MAX_CONCURRENT_STREAMS")
      ->check(CLI::Range(1, 100000));
  AddDuration(app, "--grpc-min-ping-interval-seconds", config.grpc_min_ping_interval,
              absl::Seconds(1),
              "keepalive pings a client may send while no data flows; faster ones are strikes")
      ->envname("WARDEN_GRPC_MIN_PING_INTERVAL_SECONDS")
      ->check(CLI::Range(0, 3600));
  app.add_option("--grpc-max-ping-strikes", config.grpc_max_ping_strikes,
                 "strikes (pings too often) before the connection is closed")
      ->envname("WARDEN_GRPC_MAX_PING_STRIKES")
      ->check(CLI::Range(0, 100));
  AddDuration(app, "--grpc-max-connection-age-seconds", config.grpc_max_connection_age,
              absl::Seconds(1),
              "close an agent connection this old (GOAWAY, +-10% jitter), so that agents "
              "spread over the replicas again after a rollout (0 = never); with "
              "--agent-listen, the admin port's connections are left alone")
      ->envname("WARDEN_GRPC_MAX_CONNECTION_AGE_SECONDS")
      ->check(CLI::Range(0, 7 * 86400));
  AddDuration(app, "--grpc-max-connection-age-grace-seconds", config.grpc_max_connection_age_grace,
              absl::Seconds(1),
              "after that GOAWAY, how long calls still running may finish; an agent's stream "
              "is then ended and it attaches again at once")
      ->envname("WARDEN_GRPC_MAX_CONNECTION_AGE_GRACE_SECONDS")
      ->check(CLI::Range(0, 3600));
  AddDuration(app, "--heartbeat-seconds", config.heartbeat_interval, absl::Seconds(1),
              "agent link heartbeat interval; three missed make a node offline")
      ->envname("WARDEN_HEARTBEAT_SECONDS")
      ->check(CLI::Range(1, 600));
  AddDuration(app, "--credential-recheck-seconds", config.credential_recheck_interval,
              absl::Seconds(1),
              "how often the credential of every WatchEvents and signalling stream is "
              "checked again (revocations and disables end streams at once regardless)")
      ->envname("WARDEN_CREDENTIAL_RECHECK_SECONDS")
      ->check(CLI::Range(int64_t{1}, int64_t{3600}));
  app.add_option("--max-watchers-per-key", config.max_watchers_per_key,
                 "WatchEvents streams one API key may hold on one replica; more are refused "
                 "with RESOURCE_EXHAUSTED")
      ->envname("WARDEN_MAX_WATCHERS_PER_KEY")
      ->check(CLI::Range(1, 10000));
}

// Signalling rooms and their WebSocket bridge.
void AddSignalFlags(CLI::App& app, ControlPlaneConfig& config) {
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
  AddDuration(app, "--signal-auth-deadline-seconds", config.signal_auth_deadline, absl::Seconds(1),
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
  AddDuration(app, "--signal-sweep-ms", config.signal_sweep_interval, absl::Milliseconds(1),
              "how often each replica sweeps expired and empty rooms and beats its heartbeat")
      ->envname("WARDEN_SIGNAL_SWEEP_MS")
      ->check(CLI::Range(int64_t{100}, int64_t{600000}));
  AddDuration(app, "--signal-empty-grace-seconds", config.signal_empty_grace, absl::Seconds(1),
              "a room left empty this long is closed")
      ->envname("WARDEN_SIGNAL_EMPTY_GRACE_SECONDS")
      ->check(CLI::Range(int64_t{0}, int64_t{86400}));
  AddDuration(app, "--signal-max-ttl-seconds", config.signal_max_ttl, absl::Seconds(1),
              "the longest lifetime a room may ask for")
      ->envname("WARDEN_SIGNAL_MAX_TTL_SECONDS")
      ->check(CLI::Range(int64_t{60}, int64_t{30 * 86400}));
  app.add_option("--signal-relay-rate", config.signal_relay_rate,
                 "relays one signalling stream may send per second, in bursts of twice that "
                 "(0 = no limit)")
      ->envname("WARDEN_SIGNAL_RELAY_RATE")
      ->check(CLI::Range(0, 1000000));
  AddDuration(app, "--signal-drain-seconds", config.signal_drain, absl::Seconds(1),
              "on SIGTERM, how long signalling clients get to reconnect to another replica")
      ->envname("WARDEN_SIGNAL_DRAIN_SECONDS")
      ->check(CLI::Range(int64_t{0}, int64_t{600}));
}

// The fleet: WireGuard addresses, lost nodes, sweeps, policy and audit.
void AddFleetFlags(CLI::App& app, ControlPlaneConfig& config) {
  app.add_option("--wg-pool-v4", config.wg_pool_v4,
                 "IPv4 network WireGuard device addresses come from (host .1 is the server's)")
      ->envname("WARDEN_WG_POOL_V4");
  app.add_option("--wg-pool-v6", config.wg_pool_v6,
                 "IPv6 prefix for WireGuard device addresses, e.g. fd66::/64 (default: none)")
      ->envname("WARDEN_WG_POOL_V6");
  AddDuration(app, "--node-offline-close-after", config.node_offline_close_after, absl::Seconds(1),
              "seconds a node may stay unheard before its sessions are closed as node_lost "
              "(their seats freed; adopted again if the node returns with them)")
      ->envname("WARDEN_NODE_OFFLINE_CLOSE_AFTER")
      ->check(CLI::Range(int64_t{30}, int64_t{30 * 86400}));
  AddDuration(app, "--inventory-adopt-window", config.inventory_adopt_window, absl::Seconds(1),
              "seconds: a node's inventory may name a user unknown to the control plane only "
              "if the user had a session on that node within this window (keep it at least "
              "the agents' --fail-open-window)")
      ->envname("WARDEN_INVENTORY_ADOPT_WINDOW")
      ->check(CLI::Range(int64_t{60}, int64_t{30 * 86400}));
  AddDuration(app, "--sweep-seconds", config.sweep_interval, absl::Seconds(1),
              "how often expired tickets and logins are removed and lost nodes' sessions closed")
      ->envname("WARDEN_SWEEP_SECONDS")
      ->check(CLI::Range(int64_t{1}, int64_t{3600}));
  AddDuration(app, "--expiry-warning-hours", config.expiry_warning, absl::Hours(1),
              "record user.expiring this long before an account expires")
      ->envname("WARDEN_EXPIRY_WARNING_HOURS")
      ->check(CLI::Range(int64_t{1}, int64_t{24 * 366}));
  app.add_flag("--deny-message-detail", config.deny_message_detail,
               "tell refused users which nodes hold their seats (administrators always see "
               "them in the audit log)")
      ->envname("WARDEN_DENY_MESSAGE_DETAIL");
  AddDuration(app, "--audit-retention-days", config.audit_retention, absl::Hours(24),
              "audit events are kept at least this long, then dropped a calendar month at a "
              "time with their partition (0 = keep forever)")
      ->envname("WARDEN_AUDIT_RETENTION_DAYS")
      ->check(CLI::Range(int64_t{0}, int64_t{36500}));
  AddDuration(app, "--session-history-retention-days", config.session_history_retention,
              absl::Hours(24),
              "closed sessions are kept at least this long, then dropped a calendar month at a "
              "time with their partition (0 = keep forever)")
      ->envname("WARDEN_SESSION_HISTORY_RETENTION_DAYS")
      ->check(CLI::Range(int64_t{0}, int64_t{36500}));
  app.add_option("--usage-daily-retention-days", config.usage_daily_retention_days,
                 "per-day usage rows are kept at least this long, then dropped a calendar month "
                 "at a time (monthly rows are kept forever; 0 = keep days forever too)")
      ->envname("WARDEN_USAGE_DAILY_RETENTION_DAYS")
      ->check(CLI::Range(0, 36500))
      ->capture_default_str();
}

void AddWebhookFlags(CLI::App& app, ControlPlaneConfig& config) {
  app.add_option("--webhook-key-file", config.webhook_key_file,
                 "file with 32 bytes as hex (openssl rand -hex 32) that seals webhook signing "
                 "secrets in the database; without it webhooks are off")
      ->envname("WARDEN_WEBHOOK_KEY_FILE");
  app.add_flag("--webhook-allow-private-targets", config.webhook_allow_private_targets,
               "deliver webhooks to loopback, private and link-local addresses too (on-premises "
               "receivers; lets ADMIN keys make the control plane call internal services)")
      ->envname("WARDEN_WEBHOOK_ALLOW_PRIVATE_TARGETS");
  app.add_option("--webhook-senders", config.webhook_senders,
                 "concurrent webhook deliveries per replica")
      ->envname("WARDEN_WEBHOOK_SENDERS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--webhook-per-endpoint", config.webhook_per_endpoint,
                 "concurrent deliveries to one endpoint per replica")
      ->envname("WARDEN_WEBHOOK_PER_ENDPOINT")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--webhook-retry-schedule", config.webhook_retry_schedule,
                 "pauses before each retry of a failed delivery, then it has failed")
      ->envname("WARDEN_WEBHOOK_RETRY_SCHEDULE")
      ->capture_default_str();
  AddDuration(app, "--webhook-timeout-seconds", config.webhook_timeout, absl::Seconds(1),
              "how long one delivery attempt may take")
      ->envname("WARDEN_WEBHOOK_TIMEOUT_SECONDS")
      ->check(CLI::Range(int64_t{1}, int64_t{120}));
  AddDuration(app, "--webhook-delivery-retention-days", config.webhook_delivery_retention,
              absl::Hours(24),
              "webhook deliveries are kept at least this long, then dropped a week at a time "
              "(keep it longer than the retry schedule)")
      ->envname("WARDEN_WEBHOOK_DELIVERY_RETENTION_DAYS")
      ->check(CLI::Range(int64_t{1}, int64_t{3650}));
}

void AddSingleSignOnFlags(CLI::App& app, ControlPlaneConfig& config) {
  app.add_option("--oidc-config", config.oidc_config,
                 "JSON file naming the OpenID Providers users may log in with (README, "
                 "\"Single sign-on\"); client secrets come from the files or variables it names")
      ->envname("WARDEN_OIDC_CONFIG");
  app.add_option("--oidc-callback-listen", config.oidc_callback_listen,
                 "serve Warden's own single sign-on callback page (GET /oidc/callback) over HTTP "
                 "on this host:port, behind a TLS-terminating proxy")
      ->envname("WARDEN_OIDC_CALLBACK_LISTEN");
  app.add_option("--oidc-callback-url", config.oidc_callback_url,
                 "the public https:// URL of that page, as registered at the providers")
      ->envname("WARDEN_OIDC_CALLBACK_URL");
  app.add_option("--oidc-workers", config.oidc_workers,
                 "threads that wait on identity providers (apart from the database workers)")
      ->envname("WARDEN_OIDC_WORKERS")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
}

// Logging and one-shot modes.
void AddProcessFlags(CLI::App& app, ControlPlaneConfig& config, LogFlags& log) {
  app.add_option("--log-level", log.level, "trace|debug|info|warn|error|off")
      ->envname("WARDEN_LOG_LEVEL");
  app.add_option("--log-format", log.format, "text|json")->envname("WARDEN_LOG_FORMAT");
  app.add_flag("--migrate-only", config.migrate_only, "apply migrations and exit")
      ->envname("WARDEN_MIGRATE_ONLY");
}

}  // namespace

void AddControlFlags(CLI::App& app, ControlPlaneConfig& config, LogFlags& log) {
  app.option_defaults()->always_capture_default();
  AddListenFlags(app, config);
  AddDatabaseFlags(app, config);
  AddCredentialFlags(app, config);
  AddStreamFlags(app, config);
  AddSignalFlags(app, config);
  AddFleetFlags(app, config);
  AddWebhookFlags(app, config);
  AddSingleSignOnFlags(app, config);
  AddProcessFlags(app, config, log);
}

}  // namespace warden::control
