// warden-connect: a Warden QUIC tunnel from this machine to a node's agent,
// and (login, me, devices, sessions, logins, why: client/account/) the
// user's own account.
// Prints each change of state on stdout; the exit status says how the tunnel
// ended (0 interrupted, 1 failed or lost, 2 usage, 3 refused, 4 killed by an
// administrator, 5 evicted by a newer device, 6 the node shut down).

#include <signal.h>

#include <CLI/CLI.hpp>
#include <fstream>
#include <iostream>

#include "client/account/account_cli.h"
#include "client/account/account_client.h"
#include "client/tunnel_client.h"
#include "common/quic/tunnel_protocol.h"

namespace {

bool ReadFirstLine(const std::string& path, std::string& line) {
  std::ifstream in(path);
  if (!in) return false;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

struct Flags {
  warden::client::ClientOptions options;
  std::string password_file;
  std::string login_file;
  int idle_timeout_seconds = 30;
  int connect_timeout_seconds = 10;
};

void AddFlags(CLI::App& app, Flags& flags) {
  app.option_defaults()->always_capture_default();
  app.add_option("--server", flags.options.server, "the node's QUIC address, host:port")
      ->envname("WARDEN_CONNECT_SERVER")
      ->required();
  app.add_option("--server-name", flags.options.server_name,
                 "the name the node's certificate must carry (default: the host of --server)")
      ->envname("WARDEN_CONNECT_SERVER_NAME");
  auto* ca =
      app.add_option("--ca", flags.options.ca_file,
                     "trust this CA (PEM) for the node's certificate (default: system roots)")
          ->envname("WARDEN_CONNECT_CA");
  app.add_option("--pin-sha256", flags.options.pin_sha256,
                 "accept exactly the certificate whose DER has this SHA-256 (hex), instead of a CA")
      ->envname("WARDEN_CONNECT_PIN_SHA256")
      ->excludes(ca);
  auto* ticket =
      app.add_option("--ticket", flags.options.connect_ticket,
                     "a connect ticket (wct_..., from SessionService/IssueConnectTicket)")
          ->envname("WARDEN_CONNECT_TICKET");
  app.add_option("--user", flags.options.username, "username, with --password-file")
      ->envname("WARDEN_CONNECT_USER");
  app.add_option("--password-file", flags.password_file, "a file whose first line is the password")
      ->envname("WARDEN_CONNECT_PASSWORD_FILE")
      ->excludes(ticket);
  app.add_option("--login-file", flags.login_file,
                 "without --ticket or --password-file: take a connect ticket from the login "
                 "that `warden-connect login` kept here (default ~/.config/warden/"
                 "connect-login.json)")
      ->envname("WARDEN_CONNECT_LOGIN_FILE");
  app.add_option("--device-label", flags.options.device_label,
                 "this device's name, shown to operators")
      ->envname("WARDEN_CONNECT_DEVICE_LABEL");
  app.add_option("--tun", flags.options.tun_name, "the TUN device to create")
      ->envname("WARDEN_CONNECT_TUN");
  app.add_option("--idle-timeout-seconds", flags.idle_timeout_seconds,
                 "give up when the server is silent this long")
      ->check(CLI::Range(2, 3600));
  app.add_option("--connect-timeout-seconds", flags.connect_timeout_seconds,
                 "give up when the handshake takes longer")
      ->check(CLI::Range(1, 300));
}

// The options the tunnel runs with: the password read, the credentials
// checked. A usage error is reported on stderr.
bool Finish(Flags& flags) {
  warden::client::ClientOptions& options = flags.options;
  if (!flags.password_file.empty()) {
    if (!ReadFirstLine(flags.password_file, options.password) || options.password.empty()) {
      std::cerr << "warden-connect: cannot read a password from " << flags.password_file << "\n";
      return false;
    }
  }
  if (options.connect_ticket.empty() && options.password.empty()) {
    // The login kept by `warden-connect login` vouches, through a ticket.
    const std::string path = warden::client::LoginFilePath(flags.login_file);
    auto account = warden::client::AccountClient::Open(path);
    if (!account.ok()) {
      std::cerr << "warden-connect: give --ticket, or --user and --password-file, or log in "
                   "first (warden-connect login): "
                << account.status().message() << "\n";
      return false;
    }
    auto ticket = (*account)->IssueConnectTicket();
    if (!ticket.ok()) {
      std::cerr << "warden-connect: no connect ticket from the login in " << path << ": "
                << ticket.status().message() << "\n";
      return false;
    }
    options.connect_ticket = *ticket;
  }
  if (!options.connect_ticket.empty() && !options.password.empty()) {
    std::cerr << "warden-connect: give either --ticket, or --user and --password-file\n";
    return false;
  }
  if (!options.password.empty() && options.username.empty()) {
    std::cerr << "warden-connect: --password-file needs --user\n";
    return false;
  }
  options.idle_timeout = absl::Seconds(flags.idle_timeout_seconds);
  options.connect_timeout = absl::Seconds(flags.connect_timeout_seconds);
  options.client_version = WARDEN_VERSION;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (warden::client::IsAccountCommand(argc, argv)) {
    return warden::client::RunAccountCommand(argc, argv);
  }
  // Taken by the tunnel's signalfd, never delivered asynchronously.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  Flags flags;
  CLI::App app{"warden-connect: a QUIC tunnel to a Warden node"};
  AddFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int status = app.exit(error);
    return status == 0 ? 0 : warden::quic::kExitUsage;
  }
  if (!Finish(flags)) return warden::quic::kExitUsage;
  auto client = warden::client::TunnelClient::Create(std::move(flags.options));
  if (!client.ok()) {
    std::cerr << "warden-connect: " << client.status().message() << "\n";
    return warden::quic::kExitFailure;
  }
  return (*client)->Run();
}
