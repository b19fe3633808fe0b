#pragma once

// One client's QUIC connection on the agent: the handshake stream, then the
// tunnel. What it learns (a hello, a packet, a connection id) goes to its
// owner, the QUIC driver's event loop; a close it decides on inside an
// ngtcp2 callback waits in pending_close until the loop can write it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/drivers/quic/connection_census.h"
#include "common/gcra_limiter.h"
#include "common/quic/quic_session.h"
#include "common/quic/quic_tls.h"
#include "common/quic/tunnel_protocol.h"

namespace warden::agent::quic {

class ServerConnection;

// What a connection tells the loop that owns it.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual void OnHello(ServerConnection& connection, v1::TunnelHello hello) = 0;
  virtual void OnClientPacket(ServerConnection& connection, const uint8_t* data, size_t size) = 0;
  virtual void OnConnectionId(ServerConnection& connection, const ngtcp2_cid& cid, bool issued) = 0;
  // TLS is done (our ALPN): the client must send its hello now.
  virtual void OnHandshakeCompleted(ServerConnection& connection) = 0;
};

struct ServerConnectionOptions {
  uint64_t idle_timeout_ns = 30 * NGTCP2_SECONDS;
  // PINGs after this much silence, once admitted (EnableKeepAlive); 0: none.
  uint64_t keepalive_ns = 0;
};

class ServerConnection final : public warden::quic::QuicSession {
 public:
  enum class Stage { kHandshake, kHello, kAdmitting, kLive };
  struct PendingClose {
    warden::quic::CloseCode code;
    std::string reason;
    // How warden_quic_connections_total counts it, if it ends the handshake.
    std::string result = "failed_handshake";
  };

  // For a client's first Initial packet (`header`, from ngtcp2_accept).
  // `original_dcid` is set when the Initial carried a valid Retry token: the
  // id the client first used, which it checks in our transport parameters.
  static absl::StatusOr<std::unique_ptr<ServerConnection>> Accept(
      ConnectionOwner& owner, const ngtcp2_pkt_hd& header, const ngtcp2_path& path,
      const warden::quic::TlsCredentials& credentials, const ServerConnectionOptions& options,
      const ngtcp2_cid* original_dcid, uint64_t now);

  Stage stage() const { return stage_; }
  void set_stage(Stage stage) { stage_ = stage; }
  // "quic:<hex of the first connection id the agent chose>".
  const std::string& session_key() const { return session_key_; }
  // Set by a callback; the loop closes the connection with it.
  std::optional<PendingClose>& pending_close() { return pending_close_; }
  // The tunnel is admitted: from now on the agent keeps it alive (a client
  // that is not admitted gets no PINGs from us, only deadlines).
  void EnableKeepAlive();

  // The tunnel, once admitted.
  std::string username;
  std::string device_label;
  std::string client_address;  // "ip:port" the handshake came from
  uint32_t tunnel_address = 0;
  std::shared_ptr<GcraLimiter> budget;
  absl::Time opened_at;
  // The loop's bookkeeping.
  ConnectionCensus::Entry census;
  uint64_t hello_deadline = UINT64_MAX;  // ns; while the hello is awaited
  uint64_t timer_key = UINT64_MAX;
  uint64_t closed_at = 0;  // ns; 0 while open
  std::vector<std::string> routing_ids;
  // Bytes of the client's packets written into the TUN device: what the
  // session is charged for (the QUIC layer's count also has the packets
  // this endpoint dropped: over budget, malformed, spoofed).
  uint64_t delivered_rx = 0;
  int64_t reported_rx = 0, reported_tx = 0;
  uint64_t usage_at = 0;
  uint64_t dropped_over_budget = 0;
  uint64_t dropped_malformed = 0;

 private:
  ServerConnection(ConnectionOwner& owner, const ServerConnectionOptions& options)
      : owner_(owner), keepalive_ns_(options.keepalive_ns) {}

  int OnHandshakeCompleted() override;
  int OnStreamData(int64_t stream_id, const uint8_t* data, size_t size) override;
  int OnDatagram(const uint8_t* data, size_t size) override;
  void OnConnectionIdIssued(const ngtcp2_cid& cid) override;
  void OnConnectionIdRetired(const ngtcp2_cid& cid) override;
  void Refuse(std::string reason);

  ConnectionOwner& owner_;
  const uint64_t keepalive_ns_;
  Stage stage_ = Stage::kHandshake;
  std::string session_key_;
  warden::quic::FrameReader hello_;
  std::optional<PendingClose> pending_close_;
};

// The routing key of a connection id.
inline std::string CidKey(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Connection ids the agent issues: long enough to be unguessable.
inline constexpr size_t kServerCidLength = 16;

}  // namespace warden::agent::quic
