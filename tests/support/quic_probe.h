#pragma once

// A QUIC client for tests of the agent's tunnel endpoint that does what a
// real client never would: offers another ALPN, writes garbage on the
// handshake stream, sends DATAGRAM frames before it is admitted. It also
// speaks the protocol properly, so that a test can check the endpoint still
// serves afterwards. Blocking; one thread.
//
// QuicCrowd is the cheap caller: many connections from one UDP socket that
// finish TLS where the agent lets them and then say nothing.

#include <netinet/in.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/quic/quic_session.h"
#include "common/quic/quic_tls.h"
#include "common/quic/tunnel_protocol.h"

namespace warden::testing {

class QuicProbe final : public quic::QuicSession {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    std::string ca_file;
    std::string server_name = "localhost";
    std::string alpn = std::string(quic::kTunnelAlpn);
    std::string token{};  // sent in the first Initial
  };
  struct Outcome {
    bool closed = false;  // the agent ended the connection
    bool handshake_done = false;
    bool application = false;  // with an application error (else transport / TLS)
    bool retried = false;      // the agent asked for address validation first
    uint64_t code = 0;
    std::string reason;
  };

  static absl::StatusOr<std::unique_ptr<QuicProbe>> Create(Options options);
  ~QuicProbe() override;

  // Runs the connection until TLS completes or it ends.
  bool Handshake(absl::Duration timeout);
  // Opens the first stream (once) and queues `bytes` on it.
  void SendOnFirstStream(std::string bytes);
  // A DATAGRAM frame, whatever the stage.
  void SendRawDatagram(const std::string& bytes);
  // Runs until the agent closes the connection or `timeout` passes.
  Outcome RunUntilClosed(absl::Duration timeout);
  // Runs until a whole welcome arrived (or the connection ended).
  absl::StatusOr<v1::TunnelWelcome> AwaitWelcome(absl::Duration timeout);

  // When TLS completed (InfinitePast until then), and when each UDP datagram
  // from the agent arrived: a test can tell whether the agent kept a silent
  // connection alive.
  absl::Time handshake_at() const { return handshake_at_; }
  bool retried() const { return retried_; }
  const std::vector<absl::Time>& arrivals() const { return arrivals_; }

 private:
  QuicProbe() = default;
  // One round: write, wait for a packet or the timer, read. False once over.
  bool Step(absl::Time deadline);

  int OnHandshakeCompleted() override {
    handshake_done_ = true;
    handshake_at_ = absl::Now();
    return 0;
  }
  int OnStreamData(int64_t stream_id, const uint8_t* data, size_t size) override;
  int OnDatagram(const uint8_t*, size_t) override { return 0; }
  void OnRetry() override { retried_ = true; }

  Options options_;  // GnuTLS keeps a pointer to the server name
  std::shared_ptr<quic::TlsCredentials> credentials_;
  std::unique_ptr<quic::UdpBatch> batch_;
  int fd_ = -1;
  sockaddr_storage local_{}, remote_{};
  socklen_t local_length_ = 0, remote_length_ = 0;
  bool handshake_done_ = false;
  absl::Time handshake_at_ = absl::InfinitePast();
  std::vector<absl::Time> arrivals_;
  bool retried_ = false;
  bool over_ = false;
  int error_ = 0;
  int64_t stream_id_ = -1;
  quic::FrameReader welcome_;
};

class QuicCrowd {
 public:
  // What became of the crowd's connections so far.
  struct Tally {
    int started = 0;
    int retried = 0;     // got a Retry (and answered it)
    int handshakes = 0;  // finished TLS
    int open = 0;        // not ended yet
    // Of them, finished TLS on both ends (HANDSHAKE_DONE) and silent: held
    // by the agent.
    int idle = 0;
    // Ended before TLS with a stateless CONNECTION_CLOSE (CONNECTION_REFUSED
    // or INVALID_TOKEN): turned away without state.
    int refused = 0;
    // Ended by the agent with an application error, by code (0x102 protocol,
    // 0x106 unavailable...); one reason of each code as a sample.
    std::map<uint64_t, int> closed_by_code;
    std::map<uint64_t, std::string> sample_reason;
    int timed_out = 0;  // no answer within the handshake or idle timeout
    int other = 0;      // ended some other way
  };

  // One UDP socket towards `options.host:port`; connections wait up to
  // `patience` for the agent (handshake and idle timeouts).
  static absl::StatusOr<std::unique_ptr<QuicCrowd>> Create(
      QuicProbe::Options options, absl::Duration patience = absl::Seconds(60));
  ~QuicCrowd();

  // Starts `count` more connections; their Initials go out on the next Run.
  absl::Status Open(int count);
  // Drives every connection for up to `timeout`, or until `done` says so.
  void Run(absl::Duration timeout, const std::function<bool(const Tally&)>& done = nullptr);
  Tally tally() const;
  // The port every connection of the crowd sends from.
  int local_port() const;

 private:
  class Member;
  QuicCrowd() = default;
  void Route(const std::string& cid, Member* member) { by_cid_[cid] = member; }
  // Reads every datagram waiting; false when none was.
  bool ReadAll(uint64_t now);
  void Settle(Member& member, int error);

  QuicProbe::Options options_;
  absl::Duration patience_;
  std::shared_ptr<quic::TlsCredentials> credentials_;
  std::unique_ptr<quic::UdpBatch> batch_;
  int fd_ = -1;
  sockaddr_storage local_{}, remote_{};
  socklen_t local_length_ = 0, remote_length_ = 0;
  std::vector<std::unique_ptr<Member>> members_;
  std::map<std::string, Member*> by_cid_;
};

}  // namespace warden::testing
