#include "agent/drivers/quic/server_connection.h"

#include <gnutls/crypto.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace warden::agent::quic {

using warden::quic::CloseCode;
using warden::quic::FrameReader;

absl::StatusOr<std::unique_ptr<ServerConnection>> ServerConnection::Accept(
    ConnectionOwner& owner, const ngtcp2_pkt_hd& header, const ngtcp2_path& path,
    const warden::quic::TlsCredentials& credentials, const ServerConnectionOptions& options,
    const ngtcp2_cid* original_dcid, uint64_t now) {
  std::unique_ptr<ServerConnection> connection(new ServerConnection(owner, options));
  ngtcp2_cid scid;
  scid.datalen = kServerCidLength;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) {
    return absl::InternalError("no randomness for a connection id");
  }
  connection->session_key_ =
      absl::StrCat("quic:", absl::BytesToHexString(CidKey(scid.data, scid.datalen)));

  ngtcp2_callbacks callbacks = SharedCallbacks();
  callbacks.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  ApplySharedSettings(settings, params, now, options.idle_timeout_ns);
  params.original_dcid = header.dcid;
  if (original_dcid != nullptr) {
    // After a Retry: the client checks both ids (RFC 9000 section 7.3), and
    // the token tells ngtcp2 the address is validated (no 3x send limit).
    params.original_dcid = *original_dcid;
    params.retry_scid = header.dcid;
    params.retry_scid_present = 1;
    settings.token = header.token;
  }
  params.stateless_reset_token_present = 1;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, params.stateless_reset_token,
                 sizeof params.stateless_reset_token) != 0) {
    return absl::InternalError("no randomness for a stateless reset token");
  }
  if (int rv =
          ngtcp2_conn_server_new(&connection->conn_, &header.scid, &scid, &path, header.version,
                                 &callbacks, &settings, &params, nullptr, connection.get());
      rv != 0) {
    return absl::InternalError(absl::StrCat("ngtcp2_conn_server_new: ", ngtcp2_strerror(rv)));
  }
  absl::StatusOr<gnutls_session_t> tls =
      warden::quic::NewServerSession(credentials, &connection->conn_ref_);
  if (!tls.ok()) return tls.status();
  connection->AttachTls(*tls);
  connection->routing_ids.push_back(CidKey(scid.data, scid.datalen));
  return connection;
}

void ServerConnection::EnableKeepAlive() {
  if (keepalive_ns_ > 0) ngtcp2_conn_set_keep_alive_timeout(conn_, keepalive_ns_);
}

void ServerConnection::Refuse(std::string reason) {
  if (!pending_close_) {
    pending_close_ = PendingClose{.code = CloseCode::kProtocol, .reason = std::move(reason)};
  }
}

int ServerConnection::OnHandshakeCompleted() {
  // GnuTLS refuses a client that offers other protocols; this catches one
  // that offers none.
  if (!warden::quic::NegotiatedTunnelAlpn(tls())) {
    Refuse(absl::StrCat("ALPN ", warden::quic::kAlpn, " was not negotiated"));
    return 0;
  }
  stage_ = Stage::kHello;
  owner_.OnHandshakeCompleted(*this);
  return 0;
}

int ServerConnection::OnStreamData(int64_t stream_id, const uint8_t* data, size_t size) {
  if (stage_ != Stage::kHello || stream_id != 0) {
    Refuse("unexpected bytes on the handshake stream");
    return 0;
  }
  switch (hello_.Add(absl::string_view(reinterpret_cast<const char*>(data), size))) {
    case FrameReader::State::kNeedMore:
      return 0;
    case FrameReader::State::kInvalid:
      Refuse("the hello is not one framed message of at most 4096 bytes");
      return 0;
    case FrameReader::State::kComplete:
      break;
  }
  absl::StatusOr<v1::TunnelHello> hello = warden::quic::ParseHello(hello_.message());
  if (!hello.ok()) {
    Refuse(std::string(hello.status().message()));
    return 0;
  }
  stage_ = Stage::kAdmitting;
  owner_.OnHello(*this, *std::move(hello));
  return 0;
}

int ServerConnection::OnDatagram(const uint8_t* data, size_t size) {
  if (stage_ != Stage::kLive) {
    Refuse("a DATAGRAM before the tunnel was admitted");
    return 0;
  }
  owner_.OnClientPacket(*this, data, size);
  return 0;
}

void ServerConnection::OnConnectionIdIssued(const ngtcp2_cid& cid) {
  owner_.OnConnectionId(*this, cid, /*issued=*/true);
}

void ServerConnection::OnConnectionIdRetired(const ngtcp2_cid& cid) {
  owner_.OnConnectionId(*this, cid, /*issued=*/false);
}

}  // namespace warden::agent::quic
