#pragma once

// GnuTLS set up for QUIC (TLS 1.3 only, ALPN warden-tunnel/1) through
// ngtcp2's GnuTLS crypto backend.

#include <gnutls/gnutls.h>
#include <ngtcp2/ngtcp2_crypto.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::quic {

inline constexpr absl::string_view kTunnelAlpn = "warden-tunnel/1";

// A certificate credential shared by every session of one endpoint.
class TlsCredentials {
 public:
  // The agent's certificate chain and key (PEM files).
  static absl::StatusOr<std::shared_ptr<TlsCredentials>> ForServer(const std::string& cert_file,
                                                                   const std::string& key_file);
  // Trust for the client: `ca_file` (PEM) when given, else the system's
  // roots. With a pin the chain is not verified; the pin is checked after the
  // handshake (VerifyPin), before any credential is sent.
  static absl::StatusOr<std::shared_ptr<TlsCredentials>> ForClient(const std::string& ca_file);
  ~TlsCredentials();

  gnutls_certificate_credentials_t get() const { return credentials_; }

 private:
  explicit TlsCredentials(gnutls_certificate_credentials_t credentials)
      : credentials_(credentials) {}
  gnutls_certificate_credentials_t credentials_;
};

// A session for one connection; `conn_ref` lets ngtcp2's backend find it.
absl::StatusOr<gnutls_session_t> NewServerSession(const TlsCredentials& credentials,
                                                  ngtcp2_crypto_conn_ref* conn_ref);
// `server_name` is checked against the certificate unless `verify_chain` is
// false (pinned certificates); GnuTLS keeps a pointer to it, so it must
// outlive the session. `alpn` is other than ours only in tests.
absl::StatusOr<gnutls_session_t> NewClientSession(const TlsCredentials& credentials,
                                                  const std::string& server_name, bool verify_chain,
                                                  ngtcp2_crypto_conn_ref* conn_ref,
                                                  absl::string_view alpn = kTunnelAlpn);

// True when the session negotiated our ALPN.
bool NegotiatedTunnelAlpn(gnutls_session_t session);

// The lowercase hex SHA-256 of the peer's leaf certificate (DER), "" if none.
std::string PeerCertificateSha256(gnutls_session_t session);
// Lowercase hex SHA-256 of the first certificate in a PEM file.
absl::StatusOr<std::string> CertificateFileSha256(const std::string& pem_file);

}  // namespace warden::quic
