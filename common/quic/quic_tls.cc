#include "common/quic/quic_tls.h"

#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace warden::quic {
namespace {

// TLS 1.3 only (QUIC requires it), AEADs QUIC defines, no middlebox
// compatibility mode (QUIC forbids it).
constexpr char kPriorities[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:%DISABLE_TLS13_COMPAT_MODE";

absl::Status TlsError(absl::string_view what, int rv) {
  return absl::InternalError(absl::StrCat(what, ": ", gnutls_strerror(rv)));
}

absl::StatusOr<gnutls_session_t> NewSession(unsigned flags, const TlsCredentials& credentials,
                                            ngtcp2_crypto_conn_ref* conn_ref, bool server,
                                            absl::string_view alpn_name) {
  gnutls_session_t session = nullptr;
  if (int rv = gnutls_init(&session, flags); rv != 0) return TlsError("gnutls_init", rv);
  auto fail = [&](absl::string_view what, int rv) {
    gnutls_deinit(session);
    return TlsError(what, rv);
  };
  if (int rv = gnutls_priority_set_direct(session, kPriorities, nullptr); rv != 0) {
    return fail("gnutls_priority_set_direct", rv);
  }
  const int configured = server ? ngtcp2_crypto_gnutls_configure_server_session(session)
                                : ngtcp2_crypto_gnutls_configure_client_session(session);
  if (configured != 0) return fail("configuring the QUIC TLS session", GNUTLS_E_INTERNAL_ERROR);
  gnutls_session_set_ptr(session, conn_ref);
  if (int rv = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, credentials.get());
      rv != 0) {
    return fail("gnutls_credentials_set", rv);
  }
  gnutls_datum_t alpn{.data = reinterpret_cast<unsigned char*>(const_cast<char*>(alpn_name.data())),
                      .size = static_cast<unsigned int>(alpn_name.size())};
  const unsigned alpn_flags =
      server ? GNUTLS_ALPN_MANDATORY | GNUTLS_ALPN_SERVER_PRECEDENCE : GNUTLS_ALPN_MANDATORY;
  if (int rv = gnutls_alpn_set_protocols(session, &alpn, 1, alpn_flags); rv != 0) {
    return fail("gnutls_alpn_set_protocols", rv);
  }
  return session;
}

std::string HexSha256(const gnutls_datum_t& der) {
  unsigned char digest[32];
  if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, digest) != 0) return "";
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

}  // namespace

absl::StatusOr<std::shared_ptr<TlsCredentials>> TlsCredentials::ForServer(
    const std::string& cert_file, const std::string& key_file) {
  gnutls_certificate_credentials_t credentials = nullptr;
  if (int rv = gnutls_certificate_allocate_credentials(&credentials); rv != 0) {
    return TlsError("gnutls_certificate_allocate_credentials", rv);
  }
  std::shared_ptr<TlsCredentials> owner(new TlsCredentials(credentials));
  if (int rv = gnutls_certificate_set_x509_key_file(credentials, cert_file.c_str(),
                                                    key_file.c_str(), GNUTLS_X509_FMT_PEM);
      rv != 0) {
    return absl::InvalidArgumentError(absl::StrCat("cannot load the QUIC certificate ", cert_file,
                                                   " and key ", key_file, ": ",
                                                   gnutls_strerror(rv)));
  }
  return owner;
}

absl::StatusOr<std::shared_ptr<TlsCredentials>> TlsCredentials::ForClient(
    const std::string& ca_file) {
  gnutls_certificate_credentials_t credentials = nullptr;
  if (int rv = gnutls_certificate_allocate_credentials(&credentials); rv != 0) {
    return TlsError("gnutls_certificate_allocate_credentials", rv);
  }
  std::shared_ptr<TlsCredentials> owner(new TlsCredentials(credentials));
  const int rv = ca_file.empty() ? gnutls_certificate_set_x509_system_trust(credentials)
                                 : gnutls_certificate_set_x509_trust_file(
                                       credentials, ca_file.c_str(), GNUTLS_X509_FMT_PEM);
  if (rv <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("no trusted certificate loaded from ",
                     ca_file.empty() ? std::string("the system store") : ca_file,
                     rv < 0 ? absl::StrCat(": ", gnutls_strerror(rv)) : std::string()));
  }
  return owner;
}

TlsCredentials::~TlsCredentials() { gnutls_certificate_free_credentials(credentials_); }

absl::StatusOr<gnutls_session_t> NewServerSession(const TlsCredentials& credentials,
                                                  ngtcp2_crypto_conn_ref* conn_ref) {
  return NewSession(GNUTLS_SERVER | GNUTLS_NO_AUTO_SEND_TICKET | GNUTLS_NO_END_OF_EARLY_DATA,
                    credentials, conn_ref, /*server=*/true, kTunnelAlpn);
}

absl::StatusOr<gnutls_session_t> NewClientSession(const TlsCredentials& credentials,
                                                  const std::string& server_name, bool verify_chain,
                                                  ngtcp2_crypto_conn_ref* conn_ref,
                                                  absl::string_view alpn) {
  absl::StatusOr<gnutls_session_t> session =
      NewSession(GNUTLS_CLIENT | GNUTLS_NO_END_OF_EARLY_DATA, credentials, conn_ref,
                 /*server=*/false, alpn);
  if (!session.ok()) return session;
  if (!server_name.empty()) {
    gnutls_server_name_set(*session, GNUTLS_NAME_DNS, server_name.data(), server_name.size());
  }
  if (verify_chain) gnutls_session_set_verify_cert(*session, server_name.c_str(), 0);
  return session;
}

bool NegotiatedTunnelAlpn(gnutls_session_t session) {
  gnutls_datum_t selected{};
  if (gnutls_alpn_get_selected_protocol(session, &selected) != 0) return false;
  return absl::string_view(reinterpret_cast<const char*>(selected.data), selected.size) ==
         kTunnelAlpn;
}

std::string PeerCertificateSha256(gnutls_session_t session) {
  unsigned int count = 0;
  const gnutls_datum_t* chain = gnutls_certificate_get_peers(session, &count);
  if (chain == nullptr || count == 0) return "";
  return HexSha256(chain[0]);
}

absl::StatusOr<std::string> CertificateFileSha256(const std::string& pem_file) {
  gnutls_datum_t pem{};
  if (int rv = gnutls_load_file(pem_file.c_str(), &pem); rv != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", pem_file, ": ", gnutls_strerror(rv)));
  }
  gnutls_x509_crt_t certificate = nullptr;
  gnutls_x509_crt_init(&certificate);
  gnutls_datum_t der{};
  int rv = gnutls_x509_crt_import(certificate, &pem, GNUTLS_X509_FMT_PEM);
  if (rv == 0) rv = gnutls_x509_crt_export2(certificate, GNUTLS_X509_FMT_DER, &der);
  gnutls_free(pem.data);
  gnutls_x509_crt_deinit(certificate);
  if (rv != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(pem_file, " holds no PEM certificate: ", gnutls_strerror(rv)));
  }
  std::string digest = HexSha256(der);
  gnutls_free(der.data);
  return digest;
}

}  // namespace warden::quic
