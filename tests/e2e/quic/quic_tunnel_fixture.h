#pragma once

// The QUIC tunnel's end-to-end fixture: warden-control, warden-agent serving
// QUIC in the test's namespace, and warden-connect clients in their own
// network namespaces (needs root, ip, ping and iperf3; skipped with the
// reason otherwise). A fixture derived from it picks the agent's QUIC flags.

#include <cstdio>
#include <iostream>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/e2e/quic/quic_rig.h"
#include "tests/e2e/quic/tunnel_meter.h"
#include "tests/support/fleet_processes.h"
#include "tests/support/test_ca.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {

inline constexpr char kPassword[] = "correct horse battery";

class QuicTunnelTest : public FleetProcessTest {
 protected:
  void SetUp() override {
    if (std::string why = QuicRig::UnusableReason(); !why.empty()) {
      GTEST_SKIP() << why;
    }
    if (std::string why = TestCa::UnusableReason(); !why.empty()) GTEST_SKIP() << why;
    FleetProcessTest::SetUp();
    ASSERT_TRUE(ca_.Create().ok());
    auto server = ca_.Server();
    ASSERT_TRUE(server.ok()) << server.status();
    server_cert_ = *server;
    ASSERT_TRUE(rig_.Setup().ok());
    control_ = &StartControl("c1");
    std::vector<std::string> flags{"--quic-listen",   "0.0.0.0:0",        "--quic-cert",
                                   server_cert_.cert, "--quic-key",       server_cert_.key,
                                   "--quic-tun",      rig_.server_tun(),  "--quic-pool",
                                   rig_.pool(),       "--metrics-listen", "127.0.0.1:0"};
    for (const std::string& flag : AgentFlags()) flags.push_back(flag);
    agent_ = &StartAgent("quic-node", *control_, flags);
    ASSERT_TRUE(WaitAttached(*agent_)) << agent_->process->Log();
    port_ =
        WaitForLoggedNumber(*agent_->process, {"QUIC tunnels on udp", "(port "}, absl::Seconds(10));
    ASSERT_GT(port_, 0) << agent_->process->Log();
    metrics_port_ = WaitForMetricsPort(*agent_->process, absl::Seconds(10));
    ASSERT_GT(metrics_port_, 0) << agent_->process->Log();
    session_ = v1::SessionService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", control_->port), grpc::InsecureChannelCredentials()));
  }

  // The QUIC flags a fixture runs its agent with.
  virtual std::vector<std::string> AgentFlags() const { return {"--quic-keepalive-seconds", "2"}; }

  void TearDown() override {
    const bool failed = HasFailure();
    for (auto& [name, process] : clients_) {
      if (failed) std::cerr << "----- warden-connect " << name << ":\n" << process->Log();
    }
    clients_.clear();
    FleetProcessTest::TearDown();
  }

  v1::User CreateUserWithPassword(const std::string& username, int max_connections,
                                  int64_t bandwidth_bytes_per_second = 0) {
    v1::CreateUserRequest request;
    request.mutable_user()->set_username(username);
    request.mutable_user()->set_password(kPassword);
    request.mutable_user()->set_max_connections(max_connections);
    request.mutable_user()->set_limit_policy(v1::EVICT_OLDEST);
    request.mutable_user()->set_bandwidth_bytes_per_second(bandwidth_bytes_per_second);
    v1::User user;
    grpc::Status status = Admin(*control_)->CreateUser(AdminContext().get(), request, &user);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return user;
  }

  std::string ConnectTicket(const std::string& username) {
    grpc::ClientContext login_context;
    v1::LoginRequest login;
    login.set_username(username);
    login.set_password(kPassword);
    login.set_device_label("test");
    v1::LoginResponse tokens;
    grpc::Status status = session_->Login(&login_context, login, &tokens);
    EXPECT_TRUE(status.ok()) << status.error_message();
    grpc::ClientContext ticket_context;
    v1::IssueConnectTicketRequest request;
    request.set_access_token(tokens.access_token());
    v1::IssueConnectTicketResponse ticket;
    status = session_->IssueConnectTicket(&ticket_context, request, &ticket);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return ticket.ticket();
  }

  QuicRig::Client AddClient() {
    auto client = rig_.AddClient();
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *client : QuicRig::Client{};
  }

  // warden-connect in the client's namespace; `credential` is
  // {"--ticket", t} or {"--user", u, "--password-file", f}.
  Process& Connect(const QuicRig::Client& client, std::vector<std::string> credential,
                   const std::string& label) {
    std::vector<std::string> args{"--server",       absl::StrCat(client.server_ip, ":", port_),
                                  "--server-name",  "localhost",
                                  "--ca",           ca_.ca_cert(),
                                  "--tun",          client.tun,
                                  "--device-label", label};
    args.insert(args.end(), credential.begin(), credential.end());
    const std::string name = absl::StrCat(label, "-", clients_.size());
    clients_.emplace_back(name,
                          rig_.StartInClient(client, WARDEN_CONNECT_BIN, args,
                                             absl::StrCat(work_dir_, "/connect-", name, ".log")));
    return *clients_.back().second;
  }

  std::vector<std::string> PasswordCredential(const std::string& username) {
    const std::string file = absl::StrCat(work_dir_, "/password-", username);
    FILE* out = std::fopen(file.c_str(), "w");
    std::fputs(kPassword, out);
    std::fclose(out);
    return {"--user", username, "--password-file", file};
  }

  static bool WaitConnected(const Process& process) {
    return process.WaitForLog("warden-connect: connected: address", absl::Seconds(20));
  }

  bool Ping(const QuicRig::Client& client, int count = 3) {
    ExecResult result = rig_.InClient(
        client, {"ping", "-c", std::to_string(count), "-i", "0.2", "-W", "2", rig_.gateway()},
        absl::Seconds(15));
    if (result.exit_code != 0) std::cerr << result.output;
    return result.exit_code == 0;
  }

  std::string LiveQuicSessionId(const std::string& username) {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    pqxx::result rows = tx.exec_params(
        "SELECT s.id::text FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = $1 AND s.protocol = 'quic' AND s.state = 'active' "
        "ORDER BY s.opened_at",
        username);
    return rows.empty() ? "" : rows[0][0].as<std::string>();
  }

  // A one-off iperf3 server on the agent's tunnel address (root
  // namespace), listening when this returns; with JSON output, its log is
  // its report once it exits.
  std::unique_ptr<Process> IperfServer(int port, bool json = true) {
    std::vector<std::string> args{"-s", "-1", "-B", rig_.gateway(), "-p", std::to_string(port)};
    if (json) args.push_back("-J");
    auto server = std::make_unique<Process>(
        FindExecutable("iperf3"), std::move(args), std::map<std::string, std::string>{},
        absl::StrCat(work_dir_, "/iperf3-server-", port, ".log"));
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (absl::Now() < deadline &&
           RunToCompletion({"ss", "-Hltn", absl::StrCat("sport = :", port)}).output.empty()) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    return server;
  }

  // The IP bytes per second the tunnel's ends received (what the agent
  // wrote into its device, plus what each client's device received) in a
  // 5 s window that opens 3 s from now: the first seconds spend the
  // bandwidth budget's burst.
  double DeliveredRate(const std::vector<QuicRig::Client>& clients) {
    auto delivered = [&]() -> int64_t {
      int64_t total = RxBytes(ReadWholeFile("/proc/net/dev"), rig_.server_tun());
      EXPECT_GE(total, 0) << "no " << rig_.server_tun() << " in /proc/net/dev";
      for (const QuicRig::Client& client : clients) {
        const int64_t bytes =
            RxBytes(rig_.InClient(client, {"cat", "/proc/net/dev"}).output, client.tun);
        EXPECT_GE(bytes, 0) << "no " << client.tun << " in the client's /proc/net/dev";
        total += bytes;
      }
      return total;
    };
    absl::SleepFor(absl::Seconds(3));
    const int64_t bytes_before = delivered();
    const absl::Time window_start = absl::Now();
    absl::SleepFor(absl::Seconds(5));
    const int64_t bytes_after = delivered();
    return static_cast<double>(bytes_after - bytes_before) /
           absl::ToDoubleSeconds(absl::Now() - window_start);
  }

  TestCa ca_;
  TestCa::Files server_cert_;
  QuicRig rig_;
  Control* control_ = nullptr;
  Agent* agent_ = nullptr;
  int port_ = 0;
  int metrics_port_ = 0;
  std::unique_ptr<v1::SessionService::Stub> session_;
  std::vector<std::pair<std::string, std::unique_ptr<Process>>> clients_;
};

}  // namespace warden::testing
