#pragma once

// warden-connect's connection: QUIC to an agent, the hello on the first
// stream, then IP packets between a local TUN device and DATAGRAM frames.
// Run() is the whole life of the tunnel and returns the process's exit
// status (tunnel_protocol.h): a script can tell a kill from an eviction from
// a refusal.

#include <netinet/in.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/quic/ipv4.h"
#include "common/quic/quic_session.h"
#include "common/quic/quic_tls.h"
#include "common/quic/tun_device.h"
#include "common/quic/tunnel_protocol.h"

namespace warden::client {

struct ClientOptions {
  std::string server;       // host:port
  std::string server_name;  // name in the agent's certificate; default: the host of `server`
  std::string ca_file;      // trust this CA (PEM); default: the system's roots
  std::string pin_sha256;   // or: accept exactly the certificate with this SHA-256 (hex)
  std::string connect_ticket;
  std::string username;
  std::string password;
  std::string device_label;
  std::string client_version;
  std::string tun_name = "wquic-c0";
  absl::Duration idle_timeout = absl::Seconds(30);
  absl::Duration connect_timeout = absl::Seconds(10);
};

class TunnelClient final : public quic::QuicSession {
 public:
  // Opens the TUN device first (a connect ticket is single-use: it is not
  // spent when the tunnel could not be set up anyway), then starts QUIC.
  static absl::StatusOr<std::unique_ptr<TunnelClient>> Create(ClientOptions options);
  ~TunnelClient() override;

  // Until the tunnel ends or SIGINT/SIGTERM (blocked by the caller and
  // taken here); SIGUSR1 moves to a new UDP port, as a NAT rebinding would.
  int Run();

 private:
  explicit TunnelClient(ClientOptions options) : options_(std::move(options)) {}
  absl::Status Start();
  absl::Status OpenSocket();
  void Rebind();
  // The loop's steps: the timer set to the connection's next expiry; a
  // signal (SIGUSR1 rebinds, the others disconnect); the hello, once TLS is
  // up (false when it cannot be sent: the tunnel is over).
  void ArmTimer();
  void OnSignal(uint64_t now);
  bool SendHello();

  int OnHandshakeCompleted() override;
  int OnStreamData(int64_t stream_id, const uint8_t* data, size_t size) override;
  int OnDatagram(const uint8_t* data, size_t size) override;
  void OnRetry() override;

  void ReadUdp(uint64_t now);
  void ReadTun(uint64_t now);
  // The tunnel is admitted: configure the device.
  void Welcome(const v1::TunnelWelcome& welcome);
  // Ends Run() with `status` after printing `message`.
  void Finish(int status, const std::string& message);
  // After a Read/Write/expiry error: why the connection ended.
  void FinishAfterError(int error);

  ClientOptions options_;
  std::shared_ptr<quic::TlsCredentials> credentials_;
  std::unique_ptr<quic::TunDevice> tun_;
  std::unique_ptr<quic::UdpBatch> batch_;
  int udp_fd_ = -1, epoll_fd_ = -1, signal_fd_ = -1, timer_fd_ = -1;
  sockaddr_storage remote_{};
  socklen_t remote_length_ = 0;
  sockaddr_storage local_{};
  socklen_t local_length_ = 0;

  bool send_hello_ = false;
  bool live_ = false;
  bool finished_ = false;
  int exit_status_ = quic::kExitFailure;
  quic::FrameReader welcome_;
  uint32_t tunnel_address_ = 0;
  std::vector<uint8_t> udp_buffer_;
  std::vector<uint8_t> tun_buffer_;
  uint64_t dropped_ = 0;
  std::string failure_;  // set inside callbacks, acted on by the loop
};

}  // namespace warden::client
