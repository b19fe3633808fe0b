#include "common/quic/quic_session.h"

#include <gnutls/crypto.h>
#include <time.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace warden::quic {
namespace {

// Datagrams held while congestion control says wait: about a bandwidth-delay
// product of a fast link; more only adds queueing delay.
constexpr size_t kMaxHeldDatagrams = 512;

// A short-header packet's overhead around a DATAGRAM frame: flags, the
// longest connection id, the longest packet number, the AEAD tag, the frame
// type and a two-byte length.
constexpr size_t kDatagramOverhead = 1 + NGTCP2_MAX_CIDLEN + 4 + 16 + 1 + 2;

}  // namespace

uint64_t MonotonicNanos() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * NGTCP2_SECONDS + static_cast<uint64_t>(ts.tv_nsec);
}

QuicSession::QuicSession() : max_datagram_payload_(kMaxUdpPayload - kDatagramOverhead) {
  conn_ref_.get_conn = &QuicSession::ConnOf;
  conn_ref_.user_data = this;
  ngtcp2_path_storage_zero(&close_path_);
}

QuicSession::~QuicSession() {
  if (conn_ != nullptr) ngtcp2_conn_del(conn_);
  if (tls_ != nullptr) gnutls_deinit(tls_);
}

ngtcp2_conn* QuicSession::ConnOf(ngtcp2_crypto_conn_ref* ref) {
  return static_cast<QuicSession*>(ref->user_data)->conn_;
}

void QuicSession::AttachTls(gnutls_session_t tls) {
  tls_ = tls;
  ngtcp2_conn_set_tls_native_handle(conn_, tls_);
}

absl::Status QuicSession::StartClient(const ngtcp2_path& path, uint64_t idle_timeout_ns,
                                      uint64_t handshake_timeout_ns,
                                      const TlsCredentials& credentials,
                                      const std::string& server_name, bool verify_chain,
                                      absl::string_view alpn, absl::string_view token) {
  ngtcp2_cid dcid, scid;
  dcid.datalen = NGTCP2_MIN_INITIAL_DCIDLEN;
  scid.datalen = 16;
  if (gnutls_rnd(GNUTLS_RND_RANDOM, dcid.data, dcid.datalen) != 0 ||
      gnutls_rnd(GNUTLS_RND_RANDOM, scid.data, scid.datalen) != 0) {
    return absl::InternalError("no randomness for connection ids");
  }
  ngtcp2_callbacks callbacks = SharedCallbacks();
  callbacks.client_initial = ngtcp2_crypto_client_initial_cb;
  callbacks.recv_retry = &QuicSession::RecvRetryCallback;
  callbacks.handshake_confirmed = &QuicSession::HandshakeConfirmedCallback;
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  ApplySharedSettings(settings, params, MonotonicNanos(), idle_timeout_ns);
  settings.handshake_timeout = handshake_timeout_ns;
  settings.token = ngtcp2_vec{.base = reinterpret_cast<uint8_t*>(const_cast<char*>(token.data())),
                              .len = token.size()};
  if (int rv = ngtcp2_conn_client_new(&conn_, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1, &callbacks,
                                      &settings, &params, nullptr, this);
      rv != 0) {
    return absl::InternalError(absl::StrCat("ngtcp2_conn_client_new: ", ngtcp2_strerror(rv)));
  }
  absl::StatusOr<gnutls_session_t> tls =
      NewClientSession(credentials, server_name, verify_chain, &conn_ref_, alpn);
  if (!tls.ok()) return tls.status();
  AttachTls(*tls);
  return absl::OkStatus();
}

ngtcp2_callbacks QuicSession::SharedCallbacks() {
  ngtcp2_callbacks callbacks{};
  callbacks.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  callbacks.handshake_completed = &QuicSession::HandshakeCompletedCallback;
  callbacks.encrypt = ngtcp2_crypto_encrypt_cb;
  callbacks.decrypt = ngtcp2_crypto_decrypt_cb;
  callbacks.hp_mask = ngtcp2_crypto_hp_mask_cb;
  callbacks.recv_stream_data = &QuicSession::RecvStreamDataCallback;
  callbacks.rand = &QuicSession::RandCallback;
  callbacks.get_new_connection_id = &QuicSession::NewConnectionIdCallback;
  callbacks.remove_connection_id = &QuicSession::RemoveConnectionIdCallback;
  callbacks.update_key = ngtcp2_crypto_update_key_cb;
  callbacks.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  callbacks.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  callbacks.recv_datagram = &QuicSession::RecvDatagramCallback;
  callbacks.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  callbacks.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  return callbacks;
}

void QuicSession::ApplySharedSettings(ngtcp2_settings& settings, ngtcp2_transport_params& params,
                                      uint64_t now, uint64_t idle_timeout_ns) {
  ngtcp2_settings_default(&settings);
  settings.initial_ts = now;
  settings.max_tx_udp_payload_size = kMaxUdpPayload;
  settings.no_tx_udp_payload_size_shaping = 1;
  settings.cc_algo = NGTCP2_CC_ALGO_CUBIC;
  settings.handshake_timeout = 10 * NGTCP2_SECONDS;
  ngtcp2_transport_params_default(&params);
  params.initial_max_streams_bidi = 1;
  params.initial_max_streams_uni = 0;
  params.initial_max_stream_data_bidi_local = 64 * 1024;
  params.initial_max_stream_data_bidi_remote = 64 * 1024;
  params.initial_max_data = 1024 * 1024;
  params.max_idle_timeout = idle_timeout_ns;
  params.max_datagram_frame_size = 65535;
  params.max_udp_payload_size = kMaxUdpPayload + 48;  // accept a little more than we send
  params.active_connection_id_limit = 4;
}

int QuicSession::HandshakeCompletedCallback(ngtcp2_conn*, void* user_data) {
  return static_cast<QuicSession*>(user_data)->OnHandshakeCompleted();
}

int QuicSession::RecvStreamDataCallback(ngtcp2_conn* conn, uint32_t, int64_t stream_id, uint64_t,
                                        const uint8_t* data, size_t size, void* user_data, void*) {
  auto* self = static_cast<QuicSession*>(user_data);
  // Give the credit back at once: the derived class bounds what it keeps.
  ngtcp2_conn_extend_max_stream_offset(conn, stream_id, size);
  ngtcp2_conn_extend_max_offset(conn, size);
  return self->OnStreamData(stream_id, data, size);
}

int QuicSession::HandshakeConfirmedCallback(ngtcp2_conn*, void* user_data) {
  static_cast<QuicSession*>(user_data)->OnHandshakeConfirmed();
  return 0;
}

int QuicSession::RecvRetryCallback(ngtcp2_conn* conn, const ngtcp2_pkt_hd* header,
                                   void* user_data) {
  static_cast<QuicSession*>(user_data)->OnRetry();
  return ngtcp2_crypto_recv_retry_cb(conn, header, user_data);
}

int QuicSession::RecvDatagramCallback(ngtcp2_conn*, uint32_t, const uint8_t* data, size_t size,
                                      void* user_data) {
  auto* self = static_cast<QuicSession*>(user_data);
  ++self->counters_.datagrams_received;
  self->counters_.bytes_received += size;
  return self->OnDatagram(data, size);
}

void QuicSession::RandCallback(uint8_t* dest, size_t size, const ngtcp2_rand_ctx*) {
  (void)gnutls_rnd(GNUTLS_RND_RANDOM, dest, size);
}

int QuicSession::NewConnectionIdCallback(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token,
                                         size_t cid_size, void* user_data) {
  if (gnutls_rnd(GNUTLS_RND_RANDOM, cid->data, cid_size) != 0 ||
      gnutls_rnd(GNUTLS_RND_RANDOM, token, NGTCP2_STATELESS_RESET_TOKENLEN) != 0) {
    return NGTCP2_ERR_CALLBACK_FAILURE;
  }
  cid->datalen = cid_size;
  static_cast<QuicSession*>(user_data)->OnConnectionIdIssued(*cid);
  return 0;
}

int QuicSession::RemoveConnectionIdCallback(ngtcp2_conn*, const ngtcp2_cid* cid, void* user_data) {
  static_cast<QuicSession*>(user_data)->OnConnectionIdRetired(*cid);
  return 0;
}

int QuicSession::Read(const ngtcp2_path& path, const uint8_t* data, size_t size, uint64_t now) {
  ngtcp2_pkt_info info{};
  return ngtcp2_conn_read_pkt(conn_, &path, &info, data, size, now);
}

int QuicSession::WriteOneDatagram(const uint8_t* data, size_t size, UdpBatch& batch, uint64_t now) {
  while (true) {
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info info{};
    ngtcp2_vec vec{.base = const_cast<uint8_t*>(data), .len = size};
    int accepted = 0;
    uint8_t* out = batch.Next();
    const ngtcp2_ssize n =
        ngtcp2_conn_writev_datagram(conn_, &ps.path, &info, out, kMaxUdpPayload, &accepted,
                                    NGTCP2_WRITE_DATAGRAM_FLAG_NONE, 0, &vec, 1, now);
    if (n == NGTCP2_ERR_INVALID_ARGUMENT) return -1;  // above the peer's frame limit
    if (n < 0) return static_cast<int>(n);
    if (n == 0) return 0;
    batch.Commit(ps.path.remote, static_cast<size_t>(n));
    if (accepted) {
      ++counters_.datagrams_sent;
      counters_.bytes_sent += size;
      return 1;
    }
    // The packet carried other frames (ACKs) first; try again.
  }
}

bool QuicSession::SendDatagram(const uint8_t* data, size_t size, UdpBatch& batch, uint64_t now) {
  if (closed_ || size > max_datagram_payload_) {
    ++counters_.dropped_oversized;
    return false;
  }
  if (held_.empty()) {
    const int written = WriteOneDatagram(data, size, batch, now);
    if (written == 1) return true;
    if (written == -1) {
      ++counters_.dropped_oversized;
      return false;
    }
    if (written < -1) return false;  // the next Write reports the error
  }
  if (held_.size() >= kMaxHeldDatagrams) {
    ++counters_.dropped_congestion;
    return false;
  }
  held_.emplace_back(data, data + size);
  return true;
}

void QuicSession::SendOnStream(int64_t stream_id, std::string bytes) {
  streams_.push_back(OutgoingStream{.id = stream_id, .bytes = std::move(bytes)});
}

int QuicSession::Write(UdpBatch& batch, uint64_t now) {
  if (closed_) return 0;
  for (OutgoingStream& stream : streams_) {
    while (stream.sent < stream.bytes.size()) {
      ngtcp2_path_storage ps;
      ngtcp2_path_storage_zero(&ps);
      ngtcp2_pkt_info info{};
      ngtcp2_vec vec{.base = reinterpret_cast<uint8_t*>(stream.bytes.data()) + stream.sent,
                     .len = stream.bytes.size() - stream.sent};
      ngtcp2_ssize consumed = -1;
      uint8_t* out = batch.Next();
      const ngtcp2_ssize n =
          ngtcp2_conn_writev_stream(conn_, &ps.path, &info, out, kMaxUdpPayload, &consumed,
                                    NGTCP2_WRITE_STREAM_FLAG_NONE, stream.id, &vec, 1, now);
      if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR ||
          n == NGTCP2_ERR_STREAM_NOT_FOUND) {
        break;
      }
      if (n < 0) return static_cast<int>(n);
      if (consumed > 0) stream.sent += static_cast<size_t>(consumed);
      if (n == 0) break;
      batch.Commit(ps.path.remote, static_cast<size_t>(n));
    }
  }
  while (!held_.empty()) {
    const int written = WriteOneDatagram(held_.front().data(), held_.front().size(), batch, now);
    if (written == 0) break;
    if (written < -1) return written;
    if (written == -1) ++counters_.dropped_oversized;
    held_.pop_front();
  }
  while (true) {
    ngtcp2_path_storage ps;
    ngtcp2_path_storage_zero(&ps);
    ngtcp2_pkt_info info{};
    uint8_t* out = batch.Next();
    const ngtcp2_ssize n = ngtcp2_conn_write_pkt(conn_, &ps.path, &info, out, kMaxUdpPayload, now);
    if (n < 0) return static_cast<int>(n);
    if (n == 0) break;
    batch.Commit(ps.path.remote, static_cast<size_t>(n));
  }
  ngtcp2_conn_update_pkt_tx_time(conn_, now);
  return 0;
}

void QuicSession::CommitClose(UdpBatch& batch) {
  if (close_packet_.empty()) return;
  std::memcpy(batch.Next(), close_packet_.data(), close_packet_.size());
  batch.Commit(close_path_.path.remote, close_packet_.size());
}

void QuicSession::CloseWithApplicationError(uint64_t code, absl::string_view reason,
                                            UdpBatch& batch, uint64_t now) {
  if (closed_) return;
  closed_ = true;
  held_.clear();
  if (ngtcp2_conn_is_in_closing_period(conn_) || ngtcp2_conn_is_in_draining_period(conn_)) return;
  ngtcp2_connection_close_error error;
  ngtcp2_connection_close_error_default(&error);
  ngtcp2_connection_close_error_set_application_error(
      &error, code, reinterpret_cast<const uint8_t*>(reason.data()), reason.size());
  close_packet_.resize(kMaxUdpPayload);
  ngtcp2_pkt_info info{};
  const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(
      conn_, &close_path_.path, &info, close_packet_.data(), close_packet_.size(), &error, now);
  close_packet_.resize(n > 0 ? static_cast<size_t>(n) : 0);
  CommitClose(batch);
}

void QuicSession::CloseAfterError(int error, UdpBatch& batch, uint64_t now) {
  if (closed_) return;
  closed_ = true;
  held_.clear();
  if (error == NGTCP2_ERR_DRAINING || error == NGTCP2_ERR_IDLE_CLOSE ||
      error == NGTCP2_ERR_DROP_CONN || ngtcp2_conn_is_in_draining_period(conn_) ||
      ngtcp2_conn_is_in_closing_period(conn_)) {
    return;
  }
  ngtcp2_connection_close_error close_error;
  ngtcp2_connection_close_error_default(&close_error);
  if (error == NGTCP2_ERR_CRYPTO) {
    ngtcp2_connection_close_error_set_transport_error_tls_alert(
        &close_error, ngtcp2_conn_get_tls_alert(conn_), nullptr, 0);
  } else {
    ngtcp2_connection_close_error_set_transport_error_liberr(&close_error, error, nullptr, 0);
  }
  close_packet_.resize(kMaxUdpPayload);
  ngtcp2_pkt_info info{};
  const ngtcp2_ssize n =
      ngtcp2_conn_write_connection_close(conn_, &close_path_.path, &info, close_packet_.data(),
                                         close_packet_.size(), &close_error, now);
  close_packet_.resize(n > 0 ? static_cast<size_t>(n) : 0);
  CommitClose(batch);
}

void QuicSession::RepeatClose(UdpBatch& batch) { CommitClose(batch); }

uint64_t QuicSession::Expiry() const { return ngtcp2_conn_get_expiry(conn_); }

int QuicSession::HandleExpiry(uint64_t now) { return ngtcp2_conn_handle_expiry(conn_, now); }

bool QuicSession::PeerClosedWithApplicationError(uint64_t& code, std::string& reason) const {
  ngtcp2_connection_close_error error;
  ngtcp2_conn_get_connection_close_error(conn_, &error);
  if (error.type != NGTCP2_CONNECTION_CLOSE_ERROR_CODE_TYPE_APPLICATION) return false;
  code = error.error_code;
  reason.assign(reinterpret_cast<const char*>(error.reason), error.reasonlen);
  return true;
}

}  // namespace warden::quic
