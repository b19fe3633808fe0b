#pragma once

// A QUIC client for tests of the agent's tunnel endpoint that does what a
// real client never would: offers another ALPN, writes garbage on the
// handshake stream, sends DATAGRAM frames before it is admitted. It also
// speaks the protocol properly, so that a test can check the endpoint still
// serves afterwards. Blocking; one thread.

#include <netinet/in.h>

#include <memory>
#include <string>

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
  };
  struct Outcome {
    bool closed = false;  // the agent ended the connection
    bool handshake_done = false;
    bool application = false;  // with an application error (else transport / TLS)
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

 private:
  QuicProbe() = default;
  // One round: write, wait for a packet or the timer, read. False once over.
  bool Step(absl::Time deadline);

  int OnHandshakeCompleted() override {
    handshake_done_ = true;
    return 0;
  }
  int OnStreamData(int64_t stream_id, const uint8_t* data, size_t size) override;
  int OnDatagram(const uint8_t*, size_t) override { return 0; }

  Options options_;  // GnuTLS keeps a pointer to the server name
  std::shared_ptr<quic::TlsCredentials> credentials_;
  std::unique_ptr<quic::UdpBatch> batch_;
  int fd_ = -1;
  sockaddr_storage local_{}, remote_{};
  socklen_t local_length_ = 0, remote_length_ = 0;
  bool handshake_done_ = false;
  bool over_ = false;
  int error_ = 0;
  int64_t stream_id_ = -1;
  quic::FrameReader welcome_;
};

}  // namespace warden::testing
