// warden-agent: parse flags into an AgentConfig, start the agent, wait for a
// signal, stop. What the agent is made of is in agent/agent.cc.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "agent/agent.h"
#include "common/logging.h"

namespace {

struct Flags {
  warden::agent::AgentConfig config;
  std::string fail_mode = "closed";
  int fail_open_window_seconds = 900;
  int admit_timeout_ms = 5000;
  int quic_idle_timeout_seconds = 30;
  int quic_keepalive_seconds = 10;
  int quic_hello_timeout_seconds = 5;
  std::string log_level = "info";
  std::string log_format = "text";
};

// The node, its drivers and what they do while the control plane is away.
void AddNodeFlags(CLI::App& app, Flags& flags) {
  warden::agent::AgentConfig& config = flags.config;
  app.add_option("--control", config.control,
                 "warden-control address (host:port), or several replicas' separated by commas: "
                 "the agent moves to another when the one it is attached to goes away")
      ->envname("WARDEN_AGENT_CONTROL");
  app.add_option("--node-name", config.node_name,
                 "this node's name (for the logs; the ticket names it)")
      ->envname("WARDEN_AGENT_NODE_NAME");
  app.add_option("--state-dir", config.state_dir, "keeps the node credential (mode 0600)")
      ->envname("WARDEN_AGENT_STATE_DIR");
  app.add_option("--enroll-ticket", config.enroll_ticket,
                 "single-use ticket (wet_...) traded for a credential on first start")
      ->envname("WARDEN_AGENT_ENROLL_TICKET");
  app.add_option(
         "--driver", config.drivers.specs,
         "a driver; repeatable: openvpn:mgmt=<unix:/path|host:port>[;name=…;password-file=…], "
         "wireguard:iface=<wg0>[;poll=<s>;stale=<s>]")
      ->envname("WARDEN_AGENT_DRIVER")
      ->delimiter(',');
  app.add_option("--fail-mode", flags.fail_mode,
                 "new connections while the control plane is unreachable: closed (refuse) or "
                 "open (admit users admitted here within --fail-open-window)")
      ->envname("WARDEN_AGENT_FAIL_MODE")
      ->check(CLI::IsMember({"closed", "open"}));
  app.add_option("--fail-open-window", flags.fail_open_window_seconds, "seconds")
      ->envname("WARDEN_AGENT_FAIL_OPEN_WINDOW")
      ->check(CLI::Range(1, 7 * 86400));
  app.add_option("--admit-timeout-ms", flags.admit_timeout_ms,
                 "how long a new connection waits for the control plane's answer")
      ->envname("WARDEN_AGENT_ADMIT_TIMEOUT_MS")
      ->check(CLI::Range(50, 60000));
}

// How the agent reaches warden-control, and how it is watched.
void AddLinkFlags(CLI::App& app, Flags& flags) {
  warden::agent::AgentConfig& config = flags.config;
  app.add_option("--ca", config.tls_files.ca,
                 "CA (PEM) that signed warden-control's certificate "
                 "(default: the system's roots)")
      ->envname("WARDEN_AGENT_CA");
  app.add_option("--cert", config.tls_files.cert, "this node's client certificate (PEM), for mTLS")
      ->envname("WARDEN_AGENT_CERT");
  app.add_option("--key", config.tls_files.key, "the client certificate's private key (PEM)")
      ->envname("WARDEN_AGENT_KEY");
  app.add_option("--server-name", config.server_name,
                 "the name to expect in warden-control's certificate (default: the host of "
                 "--control)")
      ->envname("WARDEN_AGENT_SERVER_NAME");
  app.add_flag("--insecure", config.insecure,
               "connect in plaintext (no TLS): private networks and tests")
      ->envname("WARDEN_AGENT_INSECURE");
  app.add_option("--metrics-listen", config.metrics_listen,
                 "serve Prometheus /metrics over HTTP on this address (host:port; empty = off)")
      ->envname("WARDEN_AGENT_METRICS_LISTEN");
}

// The QUIC tunnels the agent serves itself.
void AddQuicFlags(CLI::App& app, Flags& flags) {
  warden::agent::quic::QuicOptions& quic = flags.config.drivers.quic;
  quic.listen.clear();  // off unless asked for
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
  app.add_option("--quic-idle-timeout-seconds", flags.quic_idle_timeout_seconds,
                 "a connection silent this long is closed")
      ->envname("WARDEN_AGENT_QUIC_IDLE_TIMEOUT")
      ->check(CLI::Range(2, 3600));
  app.add_option("--quic-keepalive-seconds", flags.quic_keepalive_seconds,
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
  app.add_option("--quic-hello-timeout-seconds", flags.quic_hello_timeout_seconds,
                 "a client that finished TLS must send its hello within this time")
      ->envname("WARDEN_AGENT_QUIC_HELLO_TIMEOUT")
      ->check(CLI::Range(1, 300));
}

void AddFlags(CLI::App& app, Flags& flags) {
  app.option_defaults()->always_capture_default();
  AddNodeFlags(app, flags);
  AddLinkFlags(app, flags);
  AddQuicFlags(app, flags);
  app.add_option("--log-level", flags.log_level, "trace|debug|info|warn|error|off")
      ->envname("WARDEN_AGENT_LOG_LEVEL");
  app.add_option("--log-format", flags.log_format, "text|json")->envname("WARDEN_AGENT_LOG_FORMAT");
}

// What the flags say that is not a plain value.
void Finish(Flags& flags) {
  warden::agent::AgentConfig& config = flags.config;
  config.version = WARDEN_VERSION;
  config.core.fail_mode =
      flags.fail_mode == "open" ? warden::agent::FailMode::kOpen : warden::agent::FailMode::kClosed;
  config.core.fail_open_window = absl::Seconds(flags.fail_open_window_seconds);
  config.core.admit_timeout = absl::Milliseconds(flags.admit_timeout_ms);
  warden::agent::quic::QuicOptions& quic = config.drivers.quic;
  quic.idle_timeout = absl::Seconds(flags.quic_idle_timeout_seconds);
  quic.keepalive = absl::Seconds(flags.quic_keepalive_seconds);
  quic.hello_timeout = absl::Seconds(flags.quic_hello_timeout_seconds);
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

  Flags flags;
  CLI::App app{"warden-agent: enforces Warden's decisions on a VPN node"};
  AddFlags(app, flags);
  CLI11_PARSE(app, argc, argv);
  Finish(flags);
  if (absl::Status status = warden::logging::Configure(flags.log_level, flags.log_format);
      !status.ok()) {
    std::cerr << "warden-agent: " << status.message() << "\n";
    return 2;
  }
  auto log = warden::logging::Get("agent.main");

  auto agent = warden::agent::Agent::Create(std::move(flags.config));
  if (!agent.ok()) {
    log->critical("{}", agent.status().message());
    return 2;
  }
  if (absl::Status started = (*agent)->Start(); !started.ok()) {
    log->critical("{}", started.message());
    return 1;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  log->info("received {}; stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
  (*agent)->Stop();
  log->info("stopped");
  return 0;
}
