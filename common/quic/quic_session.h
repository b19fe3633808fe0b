#pragma once

// One QUIC connection (ngtcp2 + GnuTLS) as both tunnel ends use it: the
// server's per-client connection and the client's one connection derive from
// it and add what happens on the handshake stream and to datagrams.
//
// Not thread-safe: one event loop owns a session. Datagrams that congestion
// control holds back wait in a short queue; beyond it they are dropped (the
// tunnel carries IP, whose own protocols recover), never buffered without
// bound.

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/quic/quic_tls.h"
#include "common/quic/udp_batch.h"

namespace warden::quic {

// CLOCK_MONOTONIC in nanoseconds: ngtcp2's timestamps and the limiter's clock.
uint64_t MonotonicNanos();

struct SessionCounters {
  uint64_t datagrams_sent = 0;
  uint64_t datagrams_received = 0;
  uint64_t bytes_sent = 0;      // IP bytes in datagrams
  uint64_t bytes_received = 0;  // IP bytes in datagrams
  uint64_t dropped_congestion = 0;
  uint64_t dropped_oversized = 0;
};

class QuicSession {
 public:
  virtual ~QuicSession();
  QuicSession(const QuicSession&) = delete;
  QuicSession& operator=(const QuicSession&) = delete;

  ngtcp2_conn* conn() const { return conn_; }
  gnutls_session_t tls() const { return tls_; }

  // Feeds one received UDP payload. An error (ngtcp2's code) means the
  // connection is over: closing, draining, or broken; see Finish().
  int Read(const ngtcp2_path& path, const uint8_t* data, size_t size, uint64_t now);
  // Writes what is due: handshake-stream bytes, held datagrams, ACKs and
  // retransmissions. An error means the connection is over.
  int Write(UdpBatch& batch, uint64_t now);
  // Sends one IP packet in a DATAGRAM frame now, or holds it while
  // congestion control says wait. False when it was dropped (oversized, or
  // the hold queue is full).
  bool SendDatagram(const uint8_t* data, size_t size, UdpBatch& batch, uint64_t now);
  // Queues bytes on a stream (kept until the connection ends: ngtcp2 may
  // retransmit them).
  void SendOnStream(int64_t stream_id, std::string bytes);

  // Ends the connection with an application error and `reason`, writing
  // CONNECTION_CLOSE into `batch`. The session then only answers with that
  // close until it is deleted.
  void CloseWithApplicationError(uint64_t code, absl::string_view reason, UdpBatch& batch,
                                 uint64_t now);
  // After a Read/Write error: the close packet to send, if any (not in
  // draining, not for an idle timeout).
  void CloseAfterError(int error, UdpBatch& batch, uint64_t now);
  // Resends the close packet (a peer that did not hear it sends again).
  void RepeatClose(UdpBatch& batch);
  bool closed() const { return closed_; }

  // Timers: the next deadline (UINT64_MAX: none), and what to do at it.
  uint64_t Expiry() const;
  int HandleExpiry(uint64_t now);

  // What the peer said when it closed the connection (application errors).
  bool PeerClosedWithApplicationError(uint64_t& code, std::string& reason) const;

  const SessionCounters& counters() const { return counters_; }
  // Largest IP packet a DATAGRAM frame carries on this connection.
  size_t max_datagram_payload() const { return max_datagram_payload_; }

 protected:
  QuicSession();

  // The callbacks both ends share; a derived class adds its own and creates
  // conn_ with `this` as user data, then sets tls_.
  static ngtcp2_callbacks SharedCallbacks();
  static void ApplySharedSettings(ngtcp2_settings& settings, ngtcp2_transport_params& params,
                                  uint64_t now, uint64_t idle_timeout_ns);
  void AttachTls(gnutls_session_t tls);
  // The client's side: a connection on `path` with random connection ids
  // and a TLS session for `server_name` (which must outlive the session).
  // `token` goes in the first Initial (tests of the server's validation).
  absl::Status StartClient(const ngtcp2_path& path, uint64_t idle_timeout_ns,
                           uint64_t handshake_timeout_ns, const TlsCredentials& credentials,
                           const std::string& server_name, bool verify_chain,
                           absl::string_view alpn, absl::string_view token = {});

  virtual int OnHandshakeCompleted() = 0;
  virtual int OnStreamData(int64_t stream_id, const uint8_t* data, size_t size) = 0;
  virtual int OnDatagram(const uint8_t* data, size_t size) = 0;
  // Client: the server asked us to prove our address (a Retry); ngtcp2
  // answers it by itself, this only tells.
  virtual void OnRetry() {}
  // Client: the server finished the handshake too (HANDSHAKE_DONE).
  virtual void OnHandshakeConfirmed() {}
  // Server: connection ids to route to this session.
  virtual void OnConnectionIdIssued(const ngtcp2_cid& cid) { (void)cid; }
  virtual void OnConnectionIdRetired(const ngtcp2_cid& cid) { (void)cid; }

  ngtcp2_conn* conn_ = nullptr;
  ngtcp2_crypto_conn_ref conn_ref_{};
  SessionCounters counters_;

 private:
  struct OutgoingStream {
    int64_t id;
    std::string bytes;
    size_t sent = 0;
  };

  static int HandshakeCompletedCallback(ngtcp2_conn* conn, void* user_data);
  static int RecvStreamDataCallback(ngtcp2_conn* conn, uint32_t flags, int64_t stream_id,
                                    uint64_t offset, const uint8_t* data, size_t size,
                                    void* user_data, void* stream_user_data);
  static int HandshakeConfirmedCallback(ngtcp2_conn* conn, void* user_data);
  static int RecvRetryCallback(ngtcp2_conn* conn, const ngtcp2_pkt_hd* header, void* user_data);
  static int RecvDatagramCallback(ngtcp2_conn* conn, uint32_t flags, const uint8_t* data,
                                  size_t size, void* user_data);
  static void RandCallback(uint8_t* dest, size_t size, const ngtcp2_rand_ctx* rand_ctx);
  static int NewConnectionIdCallback(ngtcp2_conn* conn, ngtcp2_cid* cid, uint8_t* token,
                                     size_t cid_size, void* user_data);
  static int RemoveConnectionIdCallback(ngtcp2_conn* conn, const ngtcp2_cid* cid, void* user_data);
  static ngtcp2_conn* ConnOf(ngtcp2_crypto_conn_ref* ref);

  // One datagram into `batch`: 1 written, 0 congestion says wait, -1 never
  // fits (dropped), or an ngtcp2 error below -1.
  int WriteOneDatagram(const uint8_t* data, size_t size, UdpBatch& batch, uint64_t now);
  void CommitClose(UdpBatch& batch);

  gnutls_session_t tls_ = nullptr;
  std::vector<OutgoingStream> streams_;
  std::deque<std::vector<uint8_t>> held_;
  std::vector<uint8_t> close_packet_;
  ngtcp2_path_storage close_path_{};
  bool closed_ = false;
  size_t max_datagram_payload_ = 0;
};

}  // namespace warden::quic
