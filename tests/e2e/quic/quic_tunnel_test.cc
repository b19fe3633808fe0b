// The QUIC tunnel end to end: warden-control, warden-agent serving QUIC, and
// warden-connect clients in their own network namespaces (needs root, ip,
// ping and iperf3; skipped with the reason otherwise).

#include <signal.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/quic/tunnel_protocol.h"
#include "tests/e2e/quic/quic_tunnel_fixture.h"
#include "tests/support/quic_probe.h"

namespace warden::testing {
namespace {

using quic::CloseCode;

TEST_F(QuicTunnelTest, ConnectsWithATicketOrAPasswordAndCarriesTraffic) {
  CreateUserWithPassword("alice", 5);
  QuicRig::Client first = AddClient();
  QuicRig::Client second = AddClient();

  Process& by_ticket = Connect(first, {"--ticket", ConnectTicket("alice")}, "laptop");
  ASSERT_TRUE(WaitConnected(by_ticket)) << by_ticket.Log();
  EXPECT_TRUE(Ping(first));

  // TCP through the tunnel, both ways.
  auto server = IperfServer(5301, /*json=*/false);
  ExecResult upload = rig_.InClient(
      first, {"iperf3", "-c", rig_.gateway(), "-p", "5301", "-t", "2", "-J"}, absl::Seconds(20));
  ASSERT_EQ(upload.exit_code, 0) << upload.output;
  const double upload_bps =
      nlohmann::json::parse(upload.output)["end"]["sum_received"]["bits_per_second"];
  std::cout << "TCP through the tunnel: " << upload_bps << " bit/s\n";
  EXPECT_GT(upload_bps, 10e6);

  Process& by_password = Connect(second, PasswordCredential("alice"), "phone");
  ASSERT_TRUE(WaitConnected(by_password)) << by_password.Log();
  EXPECT_TRUE(Ping(second));
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE protocol = 'quic' AND state = 'active'"), 2);

  // A NAT rebinding: the client's packets come from a new port; the tunnel stays.
  by_password.Signal(SIGUSR1);
  ASSERT_TRUE(by_password.WaitForLog("moved to local port", absl::Seconds(5)));
  EXPECT_TRUE(Ping(second, 5)) << by_password.Log();

  // A clean disconnect closes the session with its byte counts.
  by_ticket.Signal(SIGINT);
  EXPECT_EQ(by_ticket.Wait(absl::Seconds(5)), quic::kExitInterrupted) << by_ticket.Log();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  int64_t closed = 0;
  while (absl::Now() < deadline && closed == 0) {
    closed = Query(
        "SELECT count(*) FROM sessions WHERE protocol = 'quic' AND state = 'closed' "
        "AND rx_bytes > 1000000 AND tx_bytes > 0");
    if (closed == 0) absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(closed, 1);
}

TEST_F(QuicTunnelTest, ARefusedLoginIsPrintedAndExitsWithTheDeniedStatus) {
  CreateUserWithPassword("mallory", 1);
  QuicRig::Client client = AddClient();
  const std::string file = absl::StrCat(work_dir_, "/wrong");
  FILE* out = std::fopen(file.c_str(), "w");
  std::fputs("not the password", out);
  std::fclose(out);
  Process& refused = Connect(client, {"--user", "mallory", "--password-file", file}, "x");
  EXPECT_EQ(refused.Wait(absl::Seconds(20)), quic::kExitDenied) << refused.Log();
  EXPECT_TRUE(absl::StrContains(refused.Log(), "refused: BAD_CREDENTIALS")) << refused.Log();
}

TEST_F(QuicTunnelTest, EvictionEndsTheOlderClientWithItsReason) {
  CreateUserWithPassword("bob", 1);
  QuicRig::Client first = AddClient();
  QuicRig::Client second = AddClient();
  Process& older = Connect(first, PasswordCredential("bob"), "old");
  ASSERT_TRUE(WaitConnected(older)) << older.Log();
  Process& newer = Connect(second, PasswordCredential("bob"), "new");
  ASSERT_TRUE(WaitConnected(newer)) << newer.Log();

  EXPECT_EQ(older.Wait(absl::Seconds(10)), quic::kExitEvicted) << older.Log();
  EXPECT_TRUE(absl::StrContains(older.Log(), "another device took this seat")) << older.Log();
  EXPECT_TRUE(Ping(second));
}

TEST_F(QuicTunnelTest, HostileHandshakesAreClosedAndTheAgentKeepsServing) {
  QuicProbe::Options options{.host = "127.0.0.1", .port = port_, .ca_file = ca_.ca_cert()};

  // Another protocol: TLS refuses it.
  options.alpn = "h3";
  auto wrong_alpn = QuicProbe::Create(options);
  ASSERT_TRUE(wrong_alpn.ok()) << wrong_alpn.status();
  QuicProbe::Outcome outcome = (*wrong_alpn)->RunUntilClosed(absl::Seconds(5));
  EXPECT_TRUE(outcome.closed);
  EXPECT_FALSE(outcome.handshake_done);
  options.alpn = std::string(quic::kTunnelAlpn);

  // Garbage on the handshake stream.
  auto garbage = QuicProbe::Create(options);
  ASSERT_TRUE(garbage.ok());
  ASSERT_TRUE((*garbage)->Handshake(absl::Seconds(5)));
  (*garbage)->SendOnFirstStream(std::string("\xff\xff\xff\xff garbage", 12));
  outcome = (*garbage)->RunUntilClosed(absl::Seconds(5));
  EXPECT_TRUE(outcome.closed);
  EXPECT_TRUE(outcome.application);
  EXPECT_EQ(outcome.code, static_cast<uint64_t>(CloseCode::kProtocol)) << outcome.reason;

  // A well-framed message that is no hello.
  auto not_hello = QuicProbe::Create(options);
  ASSERT_TRUE(not_hello.ok());
  ASSERT_TRUE((*not_hello)->Handshake(absl::Seconds(5)));
  v1::TunnelHello empty;
  empty.set_device_label("no credential");
  (*not_hello)->SendOnFirstStream(quic::Frame(empty));
  outcome = (*not_hello)->RunUntilClosed(absl::Seconds(5));
  EXPECT_EQ(outcome.code, static_cast<uint64_t>(CloseCode::kProtocol));
  EXPECT_TRUE(absl::StrContains(outcome.reason, "exactly one credential")) << outcome.reason;

  // A DATAGRAM before admission.
  auto early = QuicProbe::Create(options);
  ASSERT_TRUE(early.ok());
  ASSERT_TRUE((*early)->Handshake(absl::Seconds(5)));
  (*early)->SendRawDatagram(std::string(40, '\x45'));
  outcome = (*early)->RunUntilClosed(absl::Seconds(5));
  EXPECT_EQ(outcome.code, static_cast<uint64_t>(CloseCode::kProtocol));
  EXPECT_TRUE(absl::StrContains(outcome.reason, "DATAGRAM")) << outcome.reason;

  // UDP noise.
  ExecResult noise =
      RunToCompletion({"sh", "-c",
                       absl::StrCat("head -c 1200 /dev/urandom > /dev/udp/127.0.0.1/", port_,
                                    "; printf 'hello' > /dev/udp/127.0.0.1/", port_)});
  (void)noise;

  // The agent still serves a proper client.
  CreateUserWithPassword("erin", 1);
  auto good = QuicProbe::Create(options);
  ASSERT_TRUE(good.ok());
  ASSERT_TRUE((*good)->Handshake(absl::Seconds(5)));
  v1::TunnelHello hello;
  hello.set_username("erin");
  hello.set_password(kPassword);
  (*good)->SendOnFirstStream(quic::Frame(hello));
  auto welcome = (*good)->AwaitWelcome(absl::Seconds(10));
  ASSERT_TRUE(welcome.ok()) << welcome.status() << agent_->process->Log();
  EXPECT_TRUE(absl::StartsWith(welcome->tunnel_address(),
                               rig_.gateway().substr(0, rig_.gateway().size() - 1)))
      << welcome->tunnel_address();
  EXPECT_TRUE(agent_->process->Running());
}

}  // namespace
}  // namespace warden::testing
