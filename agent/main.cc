// warden-agent: parse configuration, enrol if needed, start the drivers and
// the control link, wait for a signal, stop in reverse order.

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/core/agent_core.h"
#include "agent/drivers/memory/memory_driver.h"
#include "agent/drivers/openvpn/openvpn_driver.h"
#include "agent/drivers/quic/quic_driver.h"
#include "agent/drivers/wireguard/wireguard_driver.h"
#include "agent/link/control_link.h"
#include "agent/link/enrollment.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/metrics_server.h"
#include "common/tls.h"

namespace {

absl::StatusOr<std::unique_ptr<warden::agent::Driver>> MakeDriver(const std::string& spec,
                                                                  const std::string& state_dir) {
  if (absl::StartsWith(spec, "memory:") && spec.size() > 7) {
    return std::make_unique<warden::agent::MemoryDriver>(spec.substr(7));
  }
  if (absl::StartsWith(spec, "openvpn:")) {
    absl::StatusOr<warden::agent::openvpn::OpenVpnOptions> options =
        warden::agent::openvpn::ParseOpenVpnSpec(absl::string_view(spec).substr(8));
    if (!options.ok()) return options.status();
    return std::make_unique<warden::agent::openvpn::OpenVpnDriver>(*std::move(options));
  }
  if (absl::StartsWith(spec, "wireguard:")) {
    absl::StatusOr<warden::agent::wireguard::WireGuardOptions> options =
        warden::agent::wireguard::ParseWireGuardSpec(absl::string_view(spec).substr(10));
    if (!options.ok()) return options.status();
    options->state_dir = state_dir;
    return std::make_unique<warden::agent::wireguard::WireGuardDriver>(*std::move(options));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown --driver \"", spec,
      "\"; known: openvpn:mgmt=<unix:/path|host:port>[;name=…], wireguard:iface=<wg0>[;poll=1;"
      "stale=180], memory:<control socket path>"));
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::string control = "127.0.0.1:50051";
  std::string node_name;
  std::string state_dir = "/var/lib/warden-agent";
  std::string enroll_ticket;
  std::vector<std::string> driver_specs;
  std::string fail_mode = "closed";
  int fail_open_window_seconds = 900;
  int admit_timeout_ms = 5000;
  std::string log_level = "info";
  std::string log_format = "text";
  warden::tls::ClientTlsFiles tls_files;
  std::string server_name;
  bool insecure = false;
  std::string metrics_listen;
  warden::agent::quic::QuicOptions quic;
  int quic_idle_timeout_seconds = 30;
  int quic_keepalive_seconds = 10;
  int quic_hello_timeout_seconds = 5;
  quic.listen.clear();

  CLI::App app{"warden-agent: enforces Warden's decisions on a VPN node"};
  app.option_defaults()->always_capture_default();
  app.add_option("--control", control, "warden-control address (host:port)")
      ->envname("WARDEN_AGENT_CONTROL");
  app.add_option("--node-name", node_name, "this node's name (for the logs; the ticket names it)")
      ->envname("WARDEN_AGENT_NODE_NAME");
  app.add_option("--state-dir", state_dir, "keeps the node credential (mode 0600)")
      ->envname("WARDEN_AGENT_STATE_DIR");
  app.add_option("--enroll-ticket", enroll_ticket,
                 "single-use ticket (wet_...) traded for a credential on first start")
      ->envname("WARDEN_AGENT_ENROLL_TICKET");
  app.add_option(
         "--driver", driver_specs,
         "a driver; repeatable: openvpn:mgmt=<unix:/path|host:port>[;name=…;password-file=…], "
         "wireguard:iface=<wg0>[;poll=<s>;stale=<s>]")
      ->envname("WARDEN_AGENT_DRIVER")
      ->delimiter(',');
  app.add_option("--fail-mode", fail_mode,
                 "new connections while the control plane is unreachable: closed (refuse) or "
                 "open (admit users admitted here within --fail-open-window)")
      ->envname("WARDEN_AGENT_FAIL_MODE")
      ->check(CLI::IsMember({"closed", "open"}));
  app.add_option("--fail-open-window", fail_open_window_seconds, "seconds")
      ->envname("WARDEN_AGENT_FAIL_OPEN_WINDOW")
      ->check(CLI::Range(1, 7 * 86400));
  app.add_option("--admit-timeout-ms", admit_timeout_ms,
                 "how long a new connection waits for the control plane's answer")
      ->envname("WARDEN_AGENT_ADMIT_TIMEOUT_MS")
      ->check(CLI::Range(50, 60000));
  app.add_option("--ca", tls_files.ca,
                 "CA (PEM) that signed warden-control's certificate "
                 "(default: the system's roots)")
      ->envname("WARDEN_AGENT_CA");
  app.add_option("--cert", tls_files.cert, "this node's client certificate (PEM), for mTLS")
      ->envname("WARDEN_AGENT_CERT");
  app.add_option("--key", tls_files.key, "the client certificate's private key (PEM)")
      ->envname("WARDEN_AGENT_KEY");
  app.add_option("--server-name", server_name,
                 "the name to expect in warden-control's certificate (default: the host of "
                 "--control)")
      ->envname("WARDEN_AGENT_SERVER_NAME");
  app.add_flag("--insecure", insecure, "connect in plaintext (no TLS): private networks and tests")
      ->envname("WARDEN_AGENT_INSECURE");
  app.add_option("--metrics-listen", metrics_listen,
                 "serve Prometheus /metrics over HTTP on this address (host:port; empty = off)")
      ->envname("WARDEN_AGENT_METRICS_LISTEN");
  app.add_option("--quic-listen", quic.listen,
                 "serve QUIC tunnels (warden-connect) on this UDP address, e.g. 0.0.0.0:4433 "
                 "(empty = off)")
      ->envname("WARDEN_AGENT_QUIC_LISTEN");
  app.add_option("--quic-cert", quic.cert_file, "the QUIC endpoint's certificate chain (PEM)")
      ->envname("WARDEN_AGENT_QUIC_CERT");
  app.add_option("--quic-key", quic.key_file, "the certificate's private key (PEM)")
      ->envname("WARDEN_AGENT_QUIC_KEY");
  app.add_option("--quic-tun", quic.tun_name, "the TUN device the tunnels end in")
      ->envname("WARDEN_AGENT_QUIC_TUN");
  app.add_option("--quic-pool", quic.pool,
                 "tunnel addresses: the first host is the node's, the rest go to clients")
      ->envname("WARDEN_AGENT_QUIC_POOL");
  app.add_option("--quic-route", quic.routes,
                 "a CIDR clients route into the tunnel; repeatable (default: the pool)")
      ->envname("WARDEN_AGENT_QUIC_ROUTES")
      ->delimiter(',');
  app.add_option("--quic-mtu", quic.mtu, "MTU of the tunnel devices")
      ->envname("WARDEN_AGENT_QUIC_MTU")
      ->check(CLI::Range(576, 1408));
  app.add_option("--quic-idle-timeout-seconds", quic_idle_timeout_seconds,
                 "a connection silent this long is closed")
      ->envname("WARDEN_AGENT_QUIC_IDLE_TIMEOUT")
      ->check(CLI::Range(2, 3600));
  app.add_option("--quic-keepalive-seconds", quic_keepalive_seconds,
                 "send a PING after this much silence (keeps NAT mappings; 0 = off)")
      ->envname("WARDEN_AGENT_QUIC_KEEPALIVE")
      ->check(CLI::Range(0, 3600));
  app.add_option("--quic-retry-threshold", quic.retry_threshold,
                 "half-open connections at or above which a client must first prove its address "
                 "(a Retry); 0 = always")
      ->envname("WARDEN_AGENT_QUIC_RETRY_THRESHOLD")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--quic-max-connections-per-address", quic.max_connections_per_address,
                 "connections from one client address (IPv4, or IPv6 /64); 0 = no limit")
      ->envname("WARDEN_AGENT_QUIC_MAX_CONNECTIONS_PER_ADDRESS")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--quic-hello-timeout-seconds", quic_hello_timeout_seconds,
                 "a client that finished TLS must send its hello within this time")
      ->envname("WARDEN_AGENT_QUIC_HELLO_TIMEOUT")
      ->check(CLI::Range(1, 300));
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->envname("WARDEN_AGENT_LOG_LEVEL");
  app.add_option("--log-format", log_format, "text|json")->envname("WARDEN_AGENT_LOG_FORMAT");
  CLI11_PARSE(app, argc, argv);

  if (absl::Status status = warden::logging::Configure(log_level, log_format); !status.ok()) {
    std::cerr << "warden-agent: " << status.message() << "\n";
    return 2;
  }
  auto log = warden::logging::Get("agent.main");

  warden::metrics::Registry metrics;
  std::vector<std::unique_ptr<warden::agent::Driver>> drivers;
  std::unique_ptr<warden::agent::quic::QuicDriver> quic_driver;
  std::vector<warden::agent::Driver*> driver_pointers;
  std::vector<std::string> driver_names;
  for (const std::string& spec : driver_specs) {
    auto driver = MakeDriver(spec, state_dir);
    if (!driver.ok()) {
      log->critical("{}", driver.status().message());
      return 2;
    }
    driver_names.push_back((*driver)->name());
    driver_pointers.push_back(driver->get());
    drivers.push_back(*std::move(driver));
  }
  if (!quic.listen.empty()) {
    if (quic.cert_file.empty() || quic.key_file.empty()) {
      log->critical("--quic-listen needs --quic-cert and --quic-key");
      return 2;
    }
    quic.idle_timeout = absl::Seconds(quic_idle_timeout_seconds);
    quic.keepalive = absl::Seconds(quic_keepalive_seconds);
    quic.hello_timeout = absl::Seconds(quic_hello_timeout_seconds);
    driver_names.push_back("quic");
    quic_driver = std::make_unique<warden::agent::quic::QuicDriver>(quic, metrics);
    driver_pointers.push_back(quic_driver.get());
  }
  if (driver_pointers.empty()) log->warn("no --driver given: this agent carries no sessions");

  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  warden::v1::NodeFacts facts;
  facts.set_hostname(host);
  facts.set_agent_version(WARDEN_VERSION);
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (insecure) {
    if (!tls_files.ca.empty() || !tls_files.cert.empty()) {
      log->critical("--insecure cannot be combined with --ca, --cert or --key");
      return 2;
    }
    log->warn(
        "connecting in PLAINTEXT (--insecure): the node credential crosses the network "
        "unencrypted");
  } else {
    auto tls = warden::tls::MakeChannelCredentials(tls_files);
    if (!tls.ok()) {
      log->critical("{}", tls.status().message());
      return 2;
    }
    credentials = *tls;
  }
  absl::StatusOr<std::string> credential = warden::agent::EnsureCredential(
      state_dir, enroll_ticket, control, credentials, server_name, facts, absl::Minutes(10));
  if (!credential.ok()) {
    log->critical("cannot obtain a node credential: {}", credential.status().message());
    return 1;
  }

  warden::agent::AgentCore core(
      warden::agent::CoreOptions{.fail_mode = fail_mode == "open"
                                                  ? warden::agent::FailMode::kOpen
                                                  : warden::agent::FailMode::kClosed,
                                 .fail_open_window = absl::Seconds(fail_open_window_seconds)},
      driver_pointers, warden::RealClock::Get(), metrics);
  warden::agent::ControlLink link(
      warden::agent::LinkOptions{.target = control,
                                 .credential = *credential,
                                 .agent_version = WARDEN_VERSION,
                                 .drivers = driver_names,
                                 .channel_credentials = credentials,
                                 .server_name = server_name,
                                 .admit_timeout = absl::Milliseconds(admit_timeout_ms)},
      core, metrics);
  core.SetControlClient(&link);
  for (warden::agent::Driver* driver : driver_pointers) {
    if (absl::Status started = driver->Start(core); !started.ok()) {
      log->critical("driver {} cannot start: {}", driver->name(), started.message());
      return 1;
    }
  }
  std::unique_ptr<warden::metrics::MetricsServer> metrics_server;
  if (!metrics_listen.empty()) {
    auto started = warden::metrics::MetricsServer::Start(metrics_listen, metrics);
    if (!started.ok()) {
      log->critical("{}", started.status().message());
      return 2;
    }
    metrics_server = *std::move(started);
  }
  link.Start();
  log->info("warden-agent {} running node={} drivers={} fail_mode={}", WARDEN_VERSION,
            node_name.empty() ? host : node_name, driver_names.size(), fail_mode);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log->info("received {}; stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  metrics_server.reset();
  // Tunnel clients hear why they are cut off while the link can still
  // report their sessions closed.
  if (quic_driver != nullptr) quic_driver->Stop();
  link.Stop();
  for (warden::agent::Driver* driver : driver_pointers) driver->Stop();
  log->info("stopped");
  return 0;
}
