// Cheap, unauthenticated callers against the agent's QUIC endpoint, end to
// end: handshakes that never send a hello, many connections from one
// address, an Initial flood that makes new clients prove their address
// (Retry), a forged token. Each time a real warden-connect from another
// network namespace must still connect and carry a ping.

#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/quic/tunnel_protocol.h"
#include "tests/e2e/quic/quic_tunnel_fixture.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/quic_probe.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using quic::CloseCode;

constexpr uint64_t kProtocolClose = static_cast<uint64_t>(CloseCode::kProtocol);
constexpr uint64_t kUnavailableClose = static_cast<uint64_t>(CloseCode::kUnavailable);

class QuicAbuseTest : public QuicTunnelTest {
 protected:
  QuicProbe::Options ProbeOptions() const {
    return QuicProbe::Options{.host = "127.0.0.1", .port = port_, .ca_file = ca_.ca_cert()};
  }

  std::unique_ptr<QuicCrowd> Crowd(int size) {
    auto crowd = QuicCrowd::Create(ProbeOptions());
    EXPECT_TRUE(crowd.ok()) << crowd.status();
    if (!crowd.ok()) return nullptr;
    EXPECT_TRUE((*crowd)->Open(size).ok());
    return *std::move(crowd);
  }

  // A counter or gauge of the agent's /metrics (0 when absent).
  double Metric(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    auto metrics = ScrapeMetrics(metrics_port_);
    EXPECT_TRUE(metrics.ok()) << metrics.status();
    if (!metrics.ok()) return -1;
    return std::max(0.0, metrics->Value(name, labels));
  }
  double ConnectionsEnded(const std::string& result) {
    return Metric("warden_quic_connections_total", {{"result", result}});
  }

  // warden-connect from its own namespace (its own address) is admitted and
  // carries a ping.
  Process& ConnectAndPing(const std::string& username) {
    CreateUserWithPassword(username, 2);
    last_client_ = AddClient();
    Process& connected = Connect(last_client_, PasswordCredential(username), username);
    EXPECT_TRUE(WaitConnected(connected)) << connected.Log() << agent_->process->Log();
    EXPECT_TRUE(Ping(last_client_));
    return connected;
  }

  // How many of the crowd the agent closed with `code`.
  static int ClosedWith(const QuicCrowd::Tally& tally, uint64_t code) {
    auto it = tally.closed_by_code.find(code);
    return it == tally.closed_by_code.end() ? 0 : it->second;
  }

  static std::string Describe(const QuicCrowd::Tally& tally) {
    std::string codes;
    for (const auto& [code, count] : tally.closed_by_code) {
      absl::StrAppend(&codes, " 0x", absl::Hex(code), "=", count, " (",
                      tally.sample_reason.at(code), ")");
    }
    return absl::StrCat("started=", tally.started, " retried=", tally.retried,
                        " handshakes=", tally.handshakes, " open=", tally.open,
                        " idle=", tally.idle, " refused=", tally.refused,
                        " timed_out=", tally.timed_out, " other=", tally.other, " closed:", codes);
  }

  QuicRig::Client last_client_;
};

// A short hello deadline, and keepalives that would show if the agent sent
// them to connections it has not admitted.
class QuicHelloDeadlineTest : public QuicAbuseTest {
 protected:
  std::vector<std::string> AgentFlags() const override {
    return {"--quic-keepalive-seconds", "1", "--quic-hello-timeout-seconds", "4"};
  }
};

TEST_F(QuicHelloDeadlineTest, SilentHandshakesAreClosedAtTheHelloDeadlineWithoutKeepalives) {
  constexpr int kSilent = 12;
  std::unique_ptr<QuicCrowd> crowd = Crowd(kSilent);
  ASSERT_NE(crowd, nullptr);
  crowd->Run(absl::Seconds(10), [](const QuicCrowd::Tally& t) { return t.idle == kSilent; });
  ASSERT_EQ(crowd->tally().idle, kSilent) << Describe(crowd->tally());
  EXPECT_EQ(crowd->tally().retried, 0);  // a dozen is not a flood
  EXPECT_EQ(Metric("warden_quic_half_open_connections"), kSilent);

  // One more, watched closely: nothing reaches it between the handshake and
  // the deadline (the agent keeps only admitted tunnels alive).
  auto watched = QuicProbe::Create(ProbeOptions());
  ASSERT_TRUE(watched.ok()) << watched.status();
  ASSERT_TRUE((*watched)->Handshake(absl::Seconds(5)));
  const absl::Time handshake_at = (*watched)->handshake_at();
  QuicProbe::Outcome outcome = (*watched)->RunUntilClosed(absl::Seconds(10));
  const absl::Time closed_at = absl::Now();
  EXPECT_TRUE(outcome.closed);
  EXPECT_TRUE(outcome.application);
  EXPECT_EQ(outcome.code, kProtocolClose) << outcome.reason;
  EXPECT_TRUE(absl::StrContains(outcome.reason, "no hello within 4s")) << outcome.reason;
  EXPECT_GE(closed_at - handshake_at, absl::Seconds(3.5));
  EXPECT_LE(closed_at - handshake_at, absl::Seconds(5.5));
  int kept_alive = 0;
  for (absl::Time at : (*watched)->arrivals()) {
    if (at > handshake_at + absl::Milliseconds(500) && at < handshake_at + absl::Seconds(3.5)) {
      ++kept_alive;
    }
  }
  EXPECT_EQ(kept_alive, 0) << "datagrams from the agent to a connection it has not admitted";

  crowd->Run(absl::Seconds(10), [](const QuicCrowd::Tally& t) { return t.open == 0; });
  const QuicCrowd::Tally tally = crowd->tally();
  EXPECT_EQ(ClosedWith(tally, kProtocolClose), kSilent) << Describe(tally);
  EXPECT_TRUE(WaitFor([&] { return ConnectionsEnded("hello_timeout") == kSilent + 1; }))
      << ConnectionsEnded("hello_timeout");
  EXPECT_EQ(Metric("warden_quic_half_open_connections"), 0);

  // Admitted tunnels are not held to the deadline: one outlives it.
  Process& connected = ConnectAndPing("hank");
  EXPECT_FALSE(WaitFor([&] { return !connected.Running(); }, absl::Seconds(5))) << connected.Log();
  EXPECT_TRUE(Ping(last_client_));
  EXPECT_EQ(Metric("warden_quic_connections"), 1);
}

// A small allowance per address and a long hello deadline: the crowd holds
// what it was given.
class QuicAddressLimitTest : public QuicAbuseTest {
 protected:
  std::vector<std::string> AgentFlags() const override {
    return {"--quic-max-connections-per-address", "4", "--quic-hello-timeout-seconds", "60"};
  }
};

TEST_F(QuicAddressLimitTest, BeyondItsAllowanceAnAddressIsRefusedWhileOthersConnect) {
  constexpr int kCrowd = 12;
  std::unique_ptr<QuicCrowd> crowd = Crowd(kCrowd);
  ASSERT_NE(crowd, nullptr);
  crowd->Run(absl::Seconds(15), [](const QuicCrowd::Tally& t) { return t.open == t.idle; });
  const QuicCrowd::Tally tally = crowd->tally();
  EXPECT_EQ(tally.idle, 4) << Describe(tally);
  // The rest proved their address (a Retry) and were then turned away:
  // statelessly, or (a handshake that raced ahead) right after TLS.
  const int closed_at_handshake = ClosedWith(tally, kUnavailableClose);
  EXPECT_EQ(tally.refused + closed_at_handshake, kCrowd - 4) << Describe(tally);
  EXPECT_GE(tally.retried, kCrowd - 4) << Describe(tally);
  EXPECT_GE(ConnectionsEnded("address_limit"), kCrowd - 4);
  EXPECT_GE(Metric("warden_quic_retries_total"), kCrowd - 4);

  // One more from the same address: a Retry, then a clear refusal.
  auto one_more = QuicProbe::Create(ProbeOptions());
  ASSERT_TRUE(one_more.ok()) << one_more.status();
  QuicProbe::Outcome outcome = (*one_more)->RunUntilClosed(absl::Seconds(5));
  EXPECT_TRUE(outcome.closed);
  EXPECT_TRUE(outcome.retried);
  EXPECT_FALSE(outcome.handshake_done);
  EXPECT_FALSE(outcome.application);
  EXPECT_EQ(outcome.code, uint64_t{NGTCP2_CONNECTION_REFUSED}) << outcome.reason;
  EXPECT_EQ(outcome.reason, "too many connections from this address");

  // Another address is not affected.
  ConnectAndPing("ivy");
  EXPECT_EQ(Metric("warden_quic_half_open_connections"), 4);
}

// Retry as soon as a few connections are half-open.
class QuicRetryTest : public QuicAbuseTest {
 protected:
  std::vector<std::string> AgentFlags() const override {
    return {"--quic-retry-threshold", "4", "--quic-hello-timeout-seconds", "60"};
  }
};

TEST_F(QuicRetryTest, ManyHalfOpenConnectionsMakeNewClientsProveTheirAddress) {
  constexpr int kCrowd = 8;
  std::unique_ptr<QuicCrowd> crowd = Crowd(kCrowd);
  ASSERT_NE(crowd, nullptr);
  crowd->Run(absl::Seconds(15), [](const QuicCrowd::Tally& t) { return t.idle == kCrowd; });
  ASSERT_EQ(crowd->tally().idle, kCrowd) << Describe(crowd->tally());
  // The first four were let in directly, the rest after a Retry.
  EXPECT_EQ(crowd->tally().retried, kCrowd - 4) << Describe(crowd->tally());
  EXPECT_EQ(Metric("warden_quic_half_open_connections"), kCrowd);

  // A raw Initial gets a Retry; answered, the handshake completes (the
  // agent's transport parameters carry both connection ids).
  auto probe = QuicProbe::Create(ProbeOptions());
  ASSERT_TRUE(probe.ok()) << probe.status();
  ASSERT_TRUE((*probe)->Handshake(absl::Seconds(5)));
  EXPECT_TRUE((*probe)->retried());

  // A forged token is refused at once, without state.
  QuicProbe::Options forged = ProbeOptions();
  forged.token = std::string(1, '\xb6') + std::string(95, 'x');
  auto forger = QuicProbe::Create(forged);
  ASSERT_TRUE(forger.ok()) << forger.status();
  QuicProbe::Outcome outcome = (*forger)->RunUntilClosed(absl::Seconds(5));
  EXPECT_TRUE(outcome.closed);
  EXPECT_FALSE(outcome.handshake_done);
  EXPECT_EQ(outcome.code, uint64_t{NGTCP2_INVALID_TOKEN}) << outcome.reason;
  EXPECT_GE(ConnectionsEnded("invalid_token"), 1);

  // A real client goes through the Retry transparently.
  const double retries_before = Metric("warden_quic_retries_total");
  Process& connected = ConnectAndPing("judy");
  EXPECT_TRUE(absl::StrContains(connected.Log(), "asked us to prove our address"))
      << connected.Log();
  EXPECT_GT(Metric("warden_quic_retries_total"), retries_before);
}

}  // namespace
}  // namespace warden::testing
