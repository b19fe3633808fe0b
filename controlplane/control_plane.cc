#include "controlplane/control_plane.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <unistd.h>

#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/metrics_server.h"
#include "common/password_hasher.h"
#include "common/status_macros.h"
#include "common/tls.h"
#include "common/worker_pool.h"
#include "controlplane/admission/admitter.h"
#include "controlplane/admission/policy_sweeper.h"
#include "controlplane/dispatch/credential_watch.h"
#include "controlplane/dispatch/dispatcher.h"
#include "controlplane/dispatch/event_feed.h"
#include "controlplane/dispatch/history_retention.h"
#include "controlplane/dispatch/usage_ledger.h"
#include "controlplane/families/call_throttle.h"
#include "controlplane/families/login_throttle.h"
#include "controlplane/health_monitor.h"
#include "controlplane/oidc/client_assertion.h"
#include "controlplane/oidc/provider_config.h"
#include "controlplane/oidc/redirects.h"
#include "controlplane/oidc/single_sign_on.h"
#include "controlplane/services/account_service.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/agent_service.h"
#include "controlplane/services/authenticator.h"
#include "controlplane/services/node_authenticator.h"
#include "controlplane/services/oidc_callback_page.h"
#include "controlplane/services/session_service.h"
#include "controlplane/services/signal_service.h"
#include "controlplane/services/signal_websocket.h"
#include "controlplane/services/validation.h"
#include "controlplane/signal/hub.h"
#include "controlplane/store/api_key_store.h"
#include "controlplane/store/attach_store.h"
#include "controlplane/store/audit_store.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/credential_store.h"
#include "controlplane/store/database.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/family_store.h"
#include "controlplane/store/history_store.h"
#include "controlplane/store/migrations.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/oidc_store.h"
#include "controlplane/store/plan_store.h"
#include "controlplane/store/policy_store.h"
#include "controlplane/store/room_store.h"
#include "controlplane/store/session_store.h"
#include "controlplane/store/shared_listener.h"
#include "controlplane/store/statements.h"
#include "controlplane/store/ticket_store.h"
#include "controlplane/store/usage_store.h"
#include "controlplane/store/user_store.h"
#include "controlplane/store/webhook_store.h"
#include "controlplane/store_gauges.h"
#include "controlplane/webhooks/retry_schedule.h"
#include "controlplane/webhooks/secret_box.h"
#include "controlplane/webhooks/webhook_sender.h"

namespace warden::control {
namespace {

const logging::Logger Log("control.main");

struct DatabaseReady {
  store::DatabaseTls tls;
  store::MigrationReport report;
};

// Start-up may race the database (a pod beside its PostgreSQL): retry while
// it is merely unreachable, fail at once on anything else (a certificate that
// does not verify among them).
absl::StatusOr<DatabaseReady> MigrateWhenReachable(const std::string& connection_string,
                                                   absl::Duration wait) {
  const absl::Time give_up = absl::Now() + wait;
  while (true) {
    absl::Status status;
    absl::StatusOr<store::DatabaseTls> tls = store::InspectTls(connection_string);
    if (tls.ok()) {
      absl::StatusOr<store::MigrationReport> report =
          store::Migrate(connection_string, store::EmbeddedMigrations());
      if (report.ok()) return DatabaseReady{.tls = *std::move(tls), .report = *report};
      status = report.status();
    } else {
      status = tls.status();
    }
    if (status.code() != absl::StatusCode::kUnavailable || absl::Now() >= give_up) return status;
    Log()->warn("database not reachable yet; retrying");
    absl::SleepFor(absl::Seconds(1));
  }
}

// The database connection's protection, for the log and for
// warden_database_tls (1 for the mode in effect).
void ReportDatabaseTls(const store::DatabaseTls& tls, metrics::Registry& metrics) {
  Log()->info("database connection: {}", store::DescribeTls(tls));
  if (const std::string warning = store::TlsWarning(tls); !warning.empty()) {
    Log()->warn("{}", warning);
  }
  metrics
      .AddGauge("warden_database_tls",
                "1 for the database connection's TLS state found at start: the sslmode in "
                "effect, whether it is encrypted, and what was verified (none, certificate, "
                "certificate+host).",
                {"sslmode", "encrypted", "verified"})
      .With({tls.sslmode, tls.encrypted ? "true" : "false",
             tls.host_verified ? "certificate+host"
             : tls.verified    ? "certificate"
                               : "none"})
      .Set(1);
}

std::string DefaultReplicaId() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return absl::StrCat(host, ":", ::getpid());
}

absl::Status CheckTransportConfig(const ControlPlaneConfig& config) {
  const bool tls = !config.tls_cert.empty() || !config.tls_key.empty();
  if (config.insecure && (tls || !config.client_ca.empty())) {
    return absl::InvalidArgumentError(
        "--insecure cannot be combined with --tls-cert, --tls-key "
        "or --client-ca");
  }
  if (!config.insecure && (config.tls_cert.empty() || config.tls_key.empty())) {
    return absl::InvalidArgumentError(
        "give --tls-cert and --tls-key (PEM files), or --insecure to serve plaintext on a "
        "private network");
  }
  if (!config.admin_listen.empty() && config.admin_listen == config.agent_listen &&
      !absl::EndsWith(config.admin_listen, ":0")) {
    return absl::InvalidArgumentError("--admin-listen and --agent-listen must differ");
  }
  return absl::OkStatus();
}

// Deliveries go with their partition once older than their retention,
// pending or not: the retry schedule must end well before that.
absl::Status CheckWebhookRetention(const ControlPlaneConfig& config) {
  WARDEN_ASSIGN_OR_RETURN(webhooks::RetrySchedule schedule,
                          webhooks::ParseRetrySchedule(config.webhook_retry_schedule));
  absl::Duration retrying = absl::ZeroDuration();
  for (absl::Duration pause : schedule.pauses) retrying += 1.2 * pause + config.webhook_timeout;
  if (config.webhook_delivery_retention <= retrying) {
    return absl::InvalidArgumentError(
        absl::StrCat("--webhook-delivery-retention-days must be longer than the retry schedule (",
                     config.webhook_retry_schedule, " takes up to ", absl::FormatDuration(retrying),
                     "): older deliveries are dropped, pending or not"));
  }
  return absl::OkStatus();
}

absl::Status CheckLimits(const ControlPlaneConfig& config) {
  if (config.grpc_max_receive_message_bytes < 4096 ||
      config.grpc_max_receive_message_bytes > (256 << 20)) {
    return absl::InvalidArgumentError(
        "--grpc-max-receive-message-bytes must be between 4096 and 268435456");
  }
  if (config.grpc_max_concurrent_streams < 1 || config.grpc_max_ping_strikes < 0 ||
      config.grpc_min_ping_interval < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--grpc-max-concurrent-streams must be at least 1, --grpc-max-ping-strikes and "
        "--grpc-min-ping-interval-seconds at least 0");
  }
  if (config.login_rate_per_username < 0 || config.login_rate_per_address < 0 ||
      config.login_burst_per_username < 1 || config.login_burst_per_address < 1 ||
      config.login_throttle_max_keys < 1) {
    return absl::InvalidArgumentError(
        "login rates must be at least 0 (0 = off), login bursts and --login-throttle-max-keys "
        "at least 1");
  }
  if (config.account_rate_per_second < 0 || config.account_burst < 1 ||
      config.account_max_devices < 0) {
    return absl::InvalidArgumentError(
        "--account-rate-per-second and --account-max-devices must be at least 0, "
        "--account-burst at least 1");
  }
  if (config.max_outstanding_connect_tickets < 0) {
    return absl::InvalidArgumentError("--max-outstanding-connect-tickets must be at least 0");
  }
  return absl::OkStatus();
}

tls::ClientCertificates ClientCertificatesFor(const ControlPlaneConfig& config, bool agent_port) {
  if (config.client_ca.empty()) return tls::ClientCertificates::kNone;
  return agent_port ? tls::ClientCertificates::kRequireAndVerify
                    : tls::ClientCertificates::kRequestAndVerify;
}

// A started server for `services` on `address`; `port` gets the bound port.
// `carries_agents`: the agents' streams come here, so connections are
// recycled at --grpc-max-connection-age (the admin port alone is not: its
// long-lived streams are people's, and nothing there needs rebalancing).
absl::StatusOr<std::unique_ptr<grpc::Server>> Serve(const ControlPlaneConfig& config,
                                                    const std::string& address,
                                                    const std::vector<grpc::Service*>& services,
                                                    tls::ClientCertificates client_certificates,
                                                    bool carries_agents, int& port) {
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (config.insecure) {
    Log()->warn(
        "{}: serving PLAINTEXT (--insecure): credentials, tokens and passwords cross "
        "the network unencrypted; use it only on a private network or in tests",
        address);
  } else {
    WARDEN_ASSIGN_OR_RETURN(credentials,
                            tls::MakeServerCredentials(
                                tls::ServerTlsFiles{.cert = config.tls_cert,
                                                    .key = config.tls_key,
                                                    .client_ca = config.client_ca,
                                                    .reload_interval = config.tls_reload_interval},
                                client_certificates));
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, credentials, &port);
  // Explicit limits instead of gRPC's defaults (unlimited streams, a 5 min
  // ping interval that punishes the agents' 20 s keepalive when idle): a
  // too-large message is refused with RESOURCE_EXHAUSTED before it is
  // parsed; streams beyond the limit wait in the client; a client pinging
  // faster than the interval without sending data is disconnected after
  // its strikes (GOAWAY "too_many_pings").
  builder.SetMaxReceiveMessageSize(config.grpc_max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, config.grpc_max_concurrent_streams);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      static_cast<int>(absl::ToInt64Milliseconds(config.grpc_min_ping_interval)));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, config.grpc_max_ping_strikes);
  // Agents keep their connection alive between calls (their keepalive
  // permits it): pings without a call are allowed, at the interval above.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  if (carries_agents && config.grpc_max_connection_age > absl::ZeroDuration()) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(config.grpc_max_connection_age)));
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(config.grpc_max_connection_age_grace)));
  }
  for (grpc::Service* service : services) builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", address, " (address in use or invalid?)"));
  }
  return server;
}

}  // namespace

struct ControlPlane::Parts {
  // First in, last out: every part below may hold references into it.
  metrics::Registry metrics;
  std::unique_ptr<store::Database> db;
  // The replica's one LISTEN connection, for every part that waits on
  // notifications; started once all have subscribed.
  std::unique_ptr<store::SharedListener> listener;
  // Admin lists and statistics: on --database-read-url (read_db; null
  // without it), else on db.
  std::unique_ptr<store::Database> read_db;
  std::unique_ptr<store::UserStore> read_users;
  std::unique_ptr<store::AuditStore> read_audit;
  std::unique_ptr<store::NodeStore> read_nodes;
  std::unique_ptr<store::SessionStore> read_sessions;
  std::unique_ptr<store::UsageStore> read_usage;
  std::unique_ptr<store::UserStore> users;
  std::unique_ptr<store::ApiKeyStore> api_keys;
  std::unique_ptr<store::AuditStore> audit;
  std::unique_ptr<store::NodeStore> nodes;
  std::unique_ptr<store::SessionStore> sessions;
  std::unique_ptr<store::TicketStore> tickets;
  std::unique_ptr<store::FamilyStore> families;
  std::unique_ptr<store::PlanStore> plans;
  std::unique_ptr<store::PolicyStore> policy;
  std::unique_ptr<admission::PolicySweeper> policy_sweeper;
  std::unique_ptr<store::CommandStore> commands;
  std::unique_ptr<store::AttachStore> attach;
  std::unique_ptr<store::DeviceStore> devices;
  std::unique_ptr<store::UsageStore> usage;
  std::unique_ptr<store::RoomStore> rooms;
  std::unique_ptr<store::CredentialStore> credential_store;
  std::unique_ptr<store::WebhookStore> webhooks;
  std::unique_ptr<store::OidcStore> oidc_logins;
  std::optional<webhooks::SecretBox> webhook_box;
  std::unique_ptr<webhooks::WebhookSender> webhook_sender;
  int webhook_subscription = 0;
  std::unique_ptr<WorkerPool> db_workers;
  std::unique_ptr<WorkerPool> event_workers;
  std::unique_ptr<PasswordHasher> hasher;
  std::unique_ptr<services::Authenticator> authenticator;
  std::unique_ptr<services::NodeAuthenticator> node_authenticator;
  std::unique_ptr<admission::PasswordCheck> admission_passwords;  // the hasher's admission lane
  std::unique_ptr<admission::PasswordCheck> login_passwords;      // its general lane
  std::unique_ptr<families::LoginThrottle> login_throttle;
  std::unique_ptr<families::CallThrottle> account_throttle;
  std::unique_ptr<WorkerPool> sso_workers;
  std::unique_ptr<oidc::SingleSignOn> sso;
  std::unique_ptr<admission::Admitter> admitter;
  // The command path: links here, answers awaited, delivery, the one way a
  // command is given, and the links' lifecycle over them.
  std::unique_ptr<dispatch::LinkRegistry> links;
  std::unique_ptr<dispatch::AckWaiters> waiters;
  std::unique_ptr<dispatch::Outbox> outbox;
  std::unique_ptr<dispatch::Commands> command_path;
  std::unique_ptr<dispatch::UsageLedger> usage_ledger;
  std::unique_ptr<dispatch::Dispatcher> dispatcher;
  std::unique_ptr<dispatch::CredentialWatch> credentials;
  std::unique_ptr<dispatch::EventFeed> events;
  std::unique_ptr<store::HistoryStore> history;
  std::unique_ptr<dispatch::HistoryRetention> history_retention;
  std::unique_ptr<signal::SignalHub> signal;
  std::unique_ptr<services::AdminService> admin;
  std::unique_ptr<services::AgentService> agent;
  std::unique_ptr<services::SessionService> session;
  std::unique_ptr<services::AccountService> account;
  std::unique_ptr<services::SignalService> signal_service;
  std::unique_ptr<services::SignalWebSocket> signal_ws;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<grpc::Server> agent_server;  // when the agent API has a port of its own
  std::unique_ptr<HealthMonitor> health;
  std::unique_ptr<HealthMonitor> agent_health;
  absl::Notification stop_sweeping;
  std::thread ticket_sweeper;
  std::unique_ptr<services::OidcCallbackPage> oidc_callback;
  // Last in, first out: no scrape runs once the parts start going.
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  absl::Duration signal_drain;
  bool stopped = false;
};

ControlPlane::ControlPlane() : parts_(std::make_unique<Parts>()) {}

ControlPlane::~ControlPlane() { Shutdown(); }

void ControlPlane::StartCommandPath(Parts& parts, const ControlPlaneConfig& config,
                                    const std::string& replica_id,
                                    const admission::DecideOptions& decide_options) {
  parts.links = std::make_unique<dispatch::LinkRegistry>(
      dispatch::LinkRegistryOptions{.heartbeat_interval = config.heartbeat_interval},
      RealClock::Get());
  parts.waiters = std::make_unique<dispatch::AckWaiters>();
  parts.outbox = std::make_unique<dispatch::Outbox>(
      *parts.links, *parts.commands, *parts.db_workers, RealClock::Get(), parts.metrics);
  parts.command_path = std::make_unique<dispatch::Commands>(
      *parts.commands, *parts.families, *parts.devices, *parts.attach, *parts.usage,
      *parts.admitter, *parts.outbox, *parts.waiters);
  parts.usage_ledger = std::make_unique<dispatch::UsageLedger>(
      dispatch::UsageLedgerOptions{.sweep_interval = config.quota_sweep_interval}, *parts.usage,
      *parts.command_path, RealClock::Get(), parts.metrics);
  parts.usage_ledger->Start();
  parts.dispatcher = std::make_unique<dispatch::Dispatcher>(
      dispatch::DispatcherOptions{.replica_id = replica_id,
                                  .listener = parts.listener.get(),
                                  .heartbeat_interval = config.heartbeat_interval,
                                  .inventory_adopt_window = config.inventory_adopt_window,
                                  .decide_options = decide_options},
      dispatch::DispatcherParts{.links = *parts.links,
                                .outbox = *parts.outbox,
                                .waiters = *parts.waiters,
                                .commands = *parts.command_path,
                                .command_store = *parts.commands,
                                .attach = *parts.attach,
                                .sessions = *parts.sessions,
                                .devices = *parts.devices,
                                .ledger = *parts.usage_ledger,
                                .db_workers = *parts.db_workers,
                                .event_workers = *parts.event_workers},
      RealClock::Get(), parts.metrics);
  parts.dispatcher->Start();
}

absl::StatusOr<std::unique_ptr<ControlPlane>> ControlPlane::Start(
    const ControlPlaneConfig& config) {
  if (config.database_url.empty()) {
    return absl::InvalidArgumentError("--database-url (WARDEN_DATABASE_URL) is required");
  }
  // --migrate-only serves nothing, so how it would serve is not its concern
  // (a migration Job runs with the database URL alone).
  if (!config.migrate_only) WARDEN_RETURN_IF_ERROR(CheckTransportConfig(config));
  WARDEN_RETURN_IF_ERROR(CheckLimits(config));
  WARDEN_RETURN_IF_ERROR(CheckWebhookRetention(config));
  if (config.db_pool_size < 1 || config.db_pool_size > 1000) {
    return absl::InvalidArgumentError("--db-pool-size must be between 1 and 1000");
  }
  // Checked before anything starts: a mistake in it is the operator's to fix.
  std::vector<oidc::ProviderConfig> providers;
  if (!config.oidc_config.empty()) {
    WARDEN_ASSIGN_OR_RETURN(providers, oidc::LoadProviders(config.oidc_config));
    for (const oidc::ProviderConfig& provider : providers) {
      if (provider.client_auth != oidc::ClientAuth::kPrivateKeyJwt) continue;
      if (absl::Status usable = oidc::CheckClientKey(provider.private_key_pem); !usable.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("OIDC provider \"", provider.name,
                                                       "\": private_key_file: ", usable.message()));
      }
    }
  }
  if (!config.oidc_callback_listen.empty() && config.oidc_callback_url.empty()) {
    return absl::InvalidArgumentError(
        "--oidc-callback-listen needs --oidc-callback-url, the page's public address");
  }
  if (!config.oidc_callback_url.empty() &&
      !absl::StartsWith(config.oidc_callback_url, "https://") &&
      !oidc::IsLoopbackRedirect(config.oidc_callback_url)) {
    return absl::InvalidArgumentError(
        "--oidc-callback-url must be https:// (or http:// on loopback, for a test)");
  }
  WARDEN_ASSIGN_OR_RETURN(
      store::AddressPool pool,
      store::ParseAddressPool("--wg-pool-v4 (WARDEN_WG_POOL_V4)", config.wg_pool_v4,
                              "--wg-pool-v6 (WARDEN_WG_POOL_V6)", config.wg_pool_v6));
  std::unique_ptr<ControlPlane> plane(new ControlPlane());
  Parts& parts = *plane->parts_;

  store::DatabaseOptions db_options{.url = config.database_url,
                                    .pool_size = config.db_pool_size,
                                    .acquire_timeout = config.db_acquire_timeout,
                                    .statement_timeout = config.db_statement_timeout,
                                    .failover_wait = config.db_failover_wait};
  WARDEN_ASSIGN_OR_RETURN(
      DatabaseReady ready,
      MigrateWhenReachable(store::ConnectionString(db_options), config.db_wait));
  ReportDatabaseTls(ready.tls, parts.metrics);
  const store::MigrationReport& report = ready.report;
  plane->schema_version_ = report.schema_version;
  Log()->info("database schema version={} applied_now={}", report.schema_version,
              report.applied_now);
  if (config.migrate_only) return plane;

  parts.listener = std::make_unique<store::SharedListener>(store::ConnectionString(db_options));
  WARDEN_RETURN_IF_ERROR(plane->OpenStores(config, db_options, pool));
  StartWorkers(parts, config);
  const Clock& clock = config.policy_clock != nullptr ? *config.policy_clock : RealClock::Get();
  const std::string replica_id = config.replica_id.empty() ? DefaultReplicaId() : config.replica_id;
  const admission::DecideOptions decide_options{.detailed_messages = config.deny_message_detail};
  StartAdmission(parts, config, clock, decide_options);
  StartCommandPath(parts, config, replica_id, decide_options);
  StartFeedsAndSignal(parts, config, replica_id);
  WARDEN_RETURN_IF_ERROR(plane->StartSingleSignOn(config, std::move(providers)));
  MakeServices(parts, config);
  WARDEN_RETURN_IF_ERROR(plane->StartServers(config));
  StartSweeps(parts, config, clock);
  WARDEN_RETURN_IF_ERROR(StartWebhooks(parts, config));
  // Everything that listens has subscribed; each catches up once connected.
  parts.listener->Start();
  AddStoreGauges(parts.metrics, *parts.db, parts.read_db.get(), *parts.sessions,
                 plane->schema_version_);
  if (!config.metrics_listen.empty()) {
    // GET /readyz follows the gRPC health service "": probes that cannot
    // speak TLS (the kubelet's gRPC probe) ask here instead.
    WARDEN_ASSIGN_OR_RETURN(
        parts.metrics_server,
        metrics::MetricsServer::Start(config.metrics_listen, parts.metrics,
                                      [health = parts.health.get()] { return health->serving(); }));
  }
  Log()->info("serving on {} (port {})",
              config.admin_listen.empty() ? config.listen : config.admin_listen, plane->port_);
  return plane;
}

absl::Status ControlPlane::OpenStores(const ControlPlaneConfig& config,
                                      const store::DatabaseOptions& options,
                                      const store::AddressPool& pool) {
  Parts& parts = *parts_;
  const PoolMetricFamilies pool_metrics = AddPoolMetricFamilies(parts.metrics);
  store::DatabaseOptions db_options = options;
  ObservePool(pool_metrics, "primary", db_options);
  parts.db = std::make_unique<store::Database>(db_options, store::AllStatements());
  parts.users = std::make_unique<store::UserStore>(*parts.db);
  parts.api_keys = std::make_unique<store::ApiKeyStore>(*parts.db);
  parts.audit = std::make_unique<store::AuditStore>(*parts.db);
  parts.nodes = std::make_unique<store::NodeStore>(*parts.db);
  parts.sessions = std::make_unique<store::SessionStore>(*parts.db);
  parts.tickets = std::make_unique<store::TicketStore>(*parts.db);
  parts.plans = std::make_unique<store::PlanStore>(*parts.db);
  parts.policy = std::make_unique<store::PolicyStore>(*parts.db);
  parts.families = std::make_unique<store::FamilyStore>(
      *parts.db, store::FamilyPolicy{.access_ttl = config.access_token_ttl,
                                     .lifetime = config.family_lifetime,
                                     .idle_timeout = config.family_idle_timeout,
                                     .refresh_lease = config.refresh_lease,
                                     .ticket_ttl = config.connect_ticket_ttl,
                                     .max_tickets_total = config.max_outstanding_connect_tickets});
  parts.commands = std::make_unique<store::CommandStore>(*parts.db);
  parts.attach = std::make_unique<store::AttachStore>(*parts.db);
  parts.devices = std::make_unique<store::DeviceStore>(*parts.db, pool);
  parts.usage = std::make_unique<store::UsageStore>(*parts.db);
  parts.webhooks = std::make_unique<store::WebhookStore>(*parts.db);
  if (!config.database_read_url.empty()) {
    store::DatabaseOptions read_options = options;
    read_options.url = config.database_read_url;
    read_options.pool_size = config.db_read_pool_size;
    read_options.application_name = "warden-control-reads";
    read_options.fallback = parts.db.get();
    ObservePool(pool_metrics, "reads", read_options);
    parts.read_db = std::make_unique<store::Database>(read_options, store::AllStatements());
  }
  store::Database& reads = parts.read_db ? *parts.read_db : *parts.db;
  parts.read_users = std::make_unique<store::UserStore>(reads);
  parts.read_audit = std::make_unique<store::AuditStore>(reads);
  parts.read_nodes = std::make_unique<store::NodeStore>(reads);
  parts.read_sessions = std::make_unique<store::SessionStore>(reads);
  parts.read_usage = std::make_unique<store::UsageStore>(reads);
  if (!config.webhook_key_file.empty()) {
    WARDEN_ASSIGN_OR_RETURN(parts.webhook_box,
                            webhooks::SecretBox::FromKeyFile(config.webhook_key_file));
  }

  WARDEN_ASSIGN_OR_RETURN(
      bootstrap_, BootstrapAdminKey(*parts.api_keys, config.admin_key, config.admin_key_file));
  Log()->info("{}", bootstrap_.note);
  return absl::OkStatus();
}

void ControlPlane::StartWorkers(Parts& parts, const ControlPlaneConfig& config) {
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  // One worker per connection: a worker holds at most one connection, and
  // the queue in front of them is what absorbs bursts.
  parts.db_workers =
      std::make_unique<WorkerPool>("warden-db", config.db_pool_size, /*max_queued=*/10000);
  // Agents' reports (acknowledgements, session events) have workers of their
  // own, so that requests cannot crowd them out; each stream has at most one
  // report queued here, so the bound is one per attached agent, with room.
  parts.event_workers = std::make_unique<WorkerPool>(
      "warden-events", std::max(2, config.db_pool_size / 2), /*max_queued=*/20000);
  parts.hasher = std::make_unique<PasswordHasher>(
      PasswordHasherOptions{
          .cost = config.password_cost,
          .general = {.threads = config.password_threads > 0 ? config.password_threads : cores,
                      .max_queued = static_cast<size_t>(std::max(1, config.password_queue))},
          .admission = {.threads = config.admission_password_threads > 0
                                       ? config.admission_password_threads
                                       : cores,
                        .max_queued =
                            static_cast<size_t>(std::max(1, config.admission_password_queue))}},
      parts.metrics);
  parts.authenticator = std::make_unique<services::Authenticator>(*parts.api_keys);
}

void ControlPlane::StartAdmission(Parts& parts, const ControlPlaneConfig& config,
                                  const Clock& clock,
                                  const admission::DecideOptions& decide_options) {
  parts.admission_passwords = std::make_unique<admission::PasswordCheck>(
      *parts.users, *parts.hasher, *parts.db_workers, PasswordHasher::Lane::kAdmission);
  parts.login_passwords = std::make_unique<admission::PasswordCheck>(
      *parts.users, *parts.hasher, *parts.db_workers, PasswordHasher::Lane::kGeneral);
  parts.admitter = std::make_unique<admission::Admitter>(
      *parts.sessions, *parts.admission_passwords, clock, parts.metrics, config.family_idle_timeout,
      decide_options);
}

void ControlPlane::StartFeedsAndSignal(Parts& parts, const ControlPlaneConfig& config,
                                       const std::string& replica_id) {
  parts.credential_store = std::make_unique<store::CredentialStore>(*parts.db);
  parts.credentials = std::make_unique<dispatch::CredentialWatch>(
      *parts.credential_store, *parts.listener, config.credential_recheck_interval, parts.metrics);
  parts.credentials->Start();
  parts.events = std::make_unique<dispatch::EventFeed>(
      *parts.audit, *parts.credentials,
      dispatch::EventFeedOptions{.max_watchers_per_principal = config.max_watchers_per_key});
  parts.events->Start();
  parts.history = std::make_unique<store::HistoryStore>(*parts.db);
  parts.history_retention = std::make_unique<dispatch::HistoryRetention>(
      *parts.history,
      dispatch::HistoryRetentionOptions{
          .retention = {{"audit_events", config.audit_retention},
                        {"webhook_deliveries", config.webhook_delivery_retention},
                        {"usage_daily", absl::Hours(24) * config.usage_daily_retention_days},
                        {"sessions_closed", config.session_history_retention}},
          .interval = config.history_sweep_interval},
      parts.metrics);
  parts.history_retention->Start();
  parts.rooms = std::make_unique<store::RoomStore>(*parts.db, replica_id);
  parts.signal = std::make_unique<signal::SignalHub>(
      signal::HubOptions{
          .replica_id = replica_id,
          .listener = parts.listener.get(),
          .sweep_interval = config.signal_sweep_interval,
          .empty_grace = config.signal_empty_grace,
          .max_ttl = config.signal_max_ttl,
          .relay_rate = config.signal_relay_rate,
          .replica_timeout = std::max(absl::Seconds(15), 3 * config.signal_sweep_interval),
          .auth_deadline = config.signal_auth_deadline,
          .max_streams_per_principal = config.signal_max_streams_per_principal,
          .max_queued_bytes = config.signal_max_queued_bytes},
      *parts.rooms, *parts.hasher, *parts.db_workers,
      services::SignalTokenCheck(*parts.authenticator, *parts.families), *parts.credentials,
      parts.metrics);
  parts.signal->Start();
  parts.signal_drain = config.signal_drain;
}

void ControlPlane::MakeServices(Parts& parts, const ControlPlaneConfig& config) {
  parts.signal_service = std::make_unique<services::SignalService>(*parts.signal);
  parts.admin = std::make_unique<services::AdminService>(services::AdminDependencies{
      .db_workers = *parts.db_workers,
      .hasher = *parts.hasher,
      .authenticator = *parts.authenticator,
      .users = *parts.users,
      .api_keys = *parts.api_keys,
      .audit = *parts.audit,
      .nodes = *parts.nodes,
      .sessions = *parts.sessions,
      .tickets = *parts.tickets,
      .devices = *parts.devices,
      .families = *parts.families,
      .plans = *parts.plans,
      .usage = *parts.usage,
      .webhooks = *parts.webhooks,
      .webhook_box = parts.webhook_box ? &*parts.webhook_box : nullptr,
      .webhook_allow_private_targets = config.webhook_allow_private_targets,
      .commands = *parts.command_path,
      .events = *parts.events,
      .signal = *parts.signal,
      .heartbeat_interval = config.heartbeat_interval,
      .sso = *parts.sso,
      .reads = {.users = *parts.read_users,
                .audit = *parts.read_audit,
                .nodes = *parts.read_nodes,
                .sessions = *parts.read_sessions,
                .usage = *parts.read_usage}});
  parts.node_authenticator = std::make_unique<services::NodeAuthenticator>(
      *parts.nodes, /*require_certificate=*/!config.client_ca.empty());
  parts.login_throttle = std::make_unique<families::LoginThrottle>(
      families::LoginThrottleOptions{
          .per_username = {.per_minute = config.login_rate_per_username,
                           .burst = config.login_burst_per_username},
          .per_address = {.per_minute = config.login_rate_per_address,
                          .burst = config.login_burst_per_address},
          .max_keys = static_cast<size_t>(config.login_throttle_max_keys)},
      RealClock::Get());
  parts.session = std::make_unique<services::SessionService>(
      services::SessionDependencies{.db_workers = *parts.db_workers,
                                    .passwords = *parts.login_passwords,
                                    .throttle = *parts.login_throttle,
                                    .metrics = parts.metrics,
                                    .families = *parts.families,
                                    .commands = *parts.command_path,
                                    .clock = RealClock::Get(),
                                    .sso = *parts.sso,
                                    .sso_workers = *parts.sso_workers});
  parts.account_throttle = std::make_unique<families::CallThrottle>(
      families::CallThrottleOptions{
          .rule = {.per_minute = 60 * config.account_rate_per_second,
                   .burst = config.account_burst},
          .max_keys = static_cast<size_t>(config.login_throttle_max_keys)},
      RealClock::Get());
  parts.account = std::make_unique<services::AccountService>(
      services::AccountDependencies{.db_workers = *parts.db_workers,
                                    .families = *parts.families,
                                    .users = *parts.users,
                                    .devices = *parts.devices,
                                    .sessions = *parts.sessions,
                                    .usage = *parts.usage,
                                    .commands = *parts.command_path,
                                    .throttle = *parts.account_throttle,
                                    .metrics = parts.metrics,
                                    .max_devices = config.account_max_devices});
  parts.agent = std::make_unique<services::AgentService>(
      services::AgentDependencies{.db_workers = *parts.db_workers,
                                  .nodes = *parts.node_authenticator,
                                  .commands = *parts.command_path,
                                  .sessions = *parts.sessions,
                                  .tickets = *parts.tickets,
                                  .dispatcher = *parts.dispatcher,
                                  .heartbeat_interval = config.heartbeat_interval});
}

absl::Status ControlPlane::StartServers(const ControlPlaneConfig& config) {
  Parts& parts = *parts_;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const bool split = !config.admin_listen.empty() || !config.agent_listen.empty();
  const std::string admin_address =
      config.admin_listen.empty() ? config.listen : config.admin_listen;
  const std::string agent_address =
      config.agent_listen.empty() ? config.listen : config.agent_listen;
  std::vector<grpc::Service*> admin_services{parts.admin.get(), parts.session.get(),
                                             parts.account.get(), parts.signal_service.get()};
  std::vector<std::string> admin_names{
      "", v1::AdminService::service_full_name(), v1::SessionService::service_full_name(),
      v1::AccountService::service_full_name(), v1::SignalService::service_full_name()};
  if (!split) {
    admin_services.push_back(parts.agent.get());
    admin_names.push_back(v1::AgentService::service_full_name());
  }
  // On a shared port a client certificate is asked for but not required
  // (admins need none); the agent service insists on it itself.
  WARDEN_ASSIGN_OR_RETURN(parts.server,
                          Serve(config, admin_address, admin_services,
                                split ? tls::ClientCertificates::kNone
                                      : ClientCertificatesFor(config, /*agent_port=*/false),
                                /*carries_agents=*/!split, port_));
  // A replica that has lost its database can neither admit nor hear the
  // kills other replicas queue for its agents: it lets them go, and they
  // attach to a replica that can (while it is down, attaching here fails).
  parts.server->GetHealthCheckService()->SetServingStatus(kLivenessHealthService, true);
  parts.health = std::make_unique<HealthMonitor>(
      *parts.db, parts.server->GetHealthCheckService(), admin_names, config.health_interval,
      [dispatcher = parts.dispatcher.get()](bool serving) {
        if (!serving) {
          dispatcher->DetachAll(absl::UnavailableError(
              "this replica cannot reach the database; attach to another replica"));
        }
      });
  if (parts.read_db) parts.health->AlsoGuard(*parts.read_db);
  parts.health->Start();
  if (split) {
    WARDEN_ASSIGN_OR_RETURN(parts.agent_server,
                            Serve(config, agent_address, {parts.agent.get()},
                                  ClientCertificatesFor(config, /*agent_port=*/true),
                                  /*carries_agents=*/true, agent_port_));
    parts.agent_server->GetHealthCheckService()->SetServingStatus(kLivenessHealthService, true);
    parts.agent_health = std::make_unique<HealthMonitor>(
        *parts.db, parts.agent_server->GetHealthCheckService(),
        std::vector<std::string>{"", v1::AgentService::service_full_name()},
        config.health_interval);
    parts.agent_health->Start();
    Log()->info("agent API on {} (port {})", agent_address, agent_port_);
  } else {
    agent_port_ = port_;
  }
  if (!config.signal_ws_listen.empty()) {
    WARDEN_ASSIGN_OR_RETURN(
        parts.signal_ws,
        services::SignalWebSocket::Start(
            services::SignalWebSocketOptions{
                .listen = config.signal_ws_listen,
                .max_connections = config.signal_ws_max_connections,
                .max_connections_per_address = config.signal_ws_max_connections_per_address,
                .max_frame_bytes = config.signal_ws_max_frame_bytes,
                .tls_cert = config.signal_ws_tls_cert,
                .tls_key = config.signal_ws_tls_key},
            *parts.signal));
  }
  return absl::OkStatus();
}

// Every replica sends: without a key no endpoint can exist, so there is
// nothing to send.
absl::Status ControlPlane::StartWebhooks(Parts& parts, const ControlPlaneConfig& config) {
  if (!parts.webhook_box) {
    Log()->info("webhooks off: no --webhook-key-file");
    return absl::OkStatus();
  }
  WARDEN_ASSIGN_OR_RETURN(webhooks::RetrySchedule schedule,
                          webhooks::ParseRetrySchedule(config.webhook_retry_schedule));
  parts.webhook_sender = std::make_unique<webhooks::WebhookSender>(
      webhooks::WebhookSenderOptions{.senders = config.webhook_senders,
                                     .per_endpoint = config.webhook_per_endpoint,
                                     // Long enough for an attempt to time out and be recorded; a
                                     // replica that dies leaves its deliveries to others after it.
                                     .lease = 3 * config.webhook_timeout,
                                     .schedule = schedule,
                                     .allow_private_targets = config.webhook_allow_private_targets,
                                     .http = {.timeout = config.webhook_timeout}},
      *parts.webhooks, *parts.webhook_box, parts.metrics);
  webhooks::WebhookSender* sender = parts.webhook_sender.get();
  parts.webhook_subscription = parts.listener->Subscribe(
      {"warden_webhooks"}, [sender](const std::string&, const std::string&) { sender->Wake(); },
      [sender] { sender->Wake(); });
  parts.webhook_sender->Start();
  Log()->info("webhooks on: {} senders, retry schedule {}{}", config.webhook_senders,
              webhooks::FormatRetrySchedule(schedule),
              config.webhook_allow_private_targets ? ", private targets allowed" : "");
  return absl::OkStatus();
}

void ControlPlane::StartSweeps(Parts& parts, const ControlPlaneConfig& config, const Clock& clock) {
  parts.ticket_sweeper = std::thread([&parts, interval = config.sweep_interval,
                                      offline = config.node_offline_close_after,
                                      silent = 3 * config.heartbeat_interval] {
    while (!parts.stop_sweeping.WaitForNotificationWithTimeout(interval)) {
      (void)parts.tickets->Sweep();
      (void)parts.families->Sweep();
      (void)parts.oidc_logins->Sweep();
      (void)parts.attach->AnnounceOfflineNodes(silent);
      absl::StatusOr<int64_t> lost = parts.sessions->CloseSessionsOfLostNodes(offline);
      if (lost.ok() && *lost > 0) {
        Log()->warn("closed {} sessions of nodes not heard from for {} (node_lost)", *lost,
                    absl::FormatDuration(offline));
      }
    }
  });
  parts.policy_sweeper = std::make_unique<admission::PolicySweeper>(
      admission::PolicySweeperOptions{.max_wait = config.policy_sweep_max_wait,
                                      .batch = 500,
                                      .expiry_warning = config.expiry_warning},
      *parts.policy, clock, parts.metrics);
  parts.policy_sweeper->Start();
}

int ControlPlane::metrics_port() const {
  return parts_->metrics_server == nullptr ? 0 : parts_->metrics_server->port();
}

const metrics::Registry& ControlPlane::metrics() const { return parts_->metrics; }

absl::Status ControlPlane::StartSingleSignOn(const ControlPlaneConfig& config,
                                             std::vector<oidc::ProviderConfig> providers) {
  Parts& parts = *parts_;
  parts.oidc_logins = std::make_unique<store::OidcStore>(*parts.db);
  parts.sso_workers = std::make_unique<WorkerPool>("sso", config.oidc_workers, 256);
  if (!providers.empty()) {
    Log()->info("single sign-on providers={}", providers.size());
  }
  parts.sso = std::make_unique<oidc::SingleSignOn>(
      std::move(providers),
      oidc::SingleSignOnDeps{.logins = *parts.oidc_logins,
                             .families = *parts.families,
                             .users = *parts.users,
                             .normalize_username = &services::NormalizeUsername,
                             .clock = RealClock::Get(),
                             .callback_url = config.oidc_callback_url});
  // Fetched now, off the start-up path: a provider that cannot be reached or
  // contradicts its configuration shows in the log (and ListOidcProviders)
  // before the first user tries it.
  for (oidc::Provider* provider : parts.sso->providers()) {
    (void)parts.sso_workers->TrySubmit([provider] { (void)provider->Metadata(); });
  }
  if (!config.oidc_callback_listen.empty()) {
    WARDEN_ASSIGN_OR_RETURN(parts.oidc_callback, services::OidcCallbackPage::Start(
                                                     config.oidc_callback_listen, *parts.sso));
  }
  return absl::OkStatus();
}

int ControlPlane::oidc_callback_port() const {
  return parts_->oidc_callback == nullptr ? 0 : parts_->oidc_callback->port();
}

int ControlPlane::signal_ws_port() const {
  return parts_->signal_ws == nullptr ? 0 : parts_->signal_ws->port();
}

void ControlPlane::Shutdown(absl::Duration grace) {
  Parts& parts = *parts_;
  if (parts.stopped) return;
  parts.stopped = true;
  parts.metrics_server.reset();
  parts.health.reset();
  parts.agent_health.reset();
  if (parts.signal) {
    // Out of the load balancer first, then signalling clients are told to
    // reconnect elsewhere while everything else still serves.
    if (parts.server) parts.server->GetHealthCheckService()->Shutdown();
    parts.signal->Drain(parts.signal_drain);
    parts.signal->Stop();
  }
  parts.signal_ws.reset();
  parts.oidc_callback.reset();
  if (parts.ticket_sweeper.joinable()) {
    parts.stop_sweeping.Notify();
    parts.ticket_sweeper.join();
  }
  // Streams end first (agents reconnect elsewhere), so that the server's
  // shutdown does not wait for them.
  if (parts.policy_sweeper) parts.policy_sweeper->Stop();
  if (parts.webhook_subscription != 0) {
    parts.listener->Unsubscribe(std::exchange(parts.webhook_subscription, 0));
  }
  if (parts.webhook_sender) parts.webhook_sender->Stop();
  if (parts.dispatcher) parts.dispatcher->Stop();
  if (parts.usage_ledger) parts.usage_ledger->Stop();
  if (parts.events) parts.events->Stop();
  if (parts.history_retention) parts.history_retention->Stop();
  if (parts.credentials) parts.credentials->Stop();
  if (parts.listener) parts.listener->Stop();
  if (parts.server) {
    // Running calls may finish within the grace period; their workers keep
    // running meanwhile, so every reactor is finished before the pools stop.
    parts.server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
  }
  if (parts.agent_server) {
    parts.agent_server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(grace));
  }
  if (parts.event_workers) parts.event_workers->Shutdown();
  if (parts.sso_workers) parts.sso_workers->Shutdown();
  if (parts.db_workers) parts.db_workers->Shutdown();
  parts.server.reset();
  parts.agent_server.reset();
}

}  // namespace warden::control
