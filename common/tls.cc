#include "common/tls.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace warden::tls {

absl::StatusOr<std::string> ReadPem(const std::string& path, const std::string& flag) {
  std::ifstream in(path);
  if (!in) return absl::FailedPreconditionError(absl::StrCat(flag, ": cannot read ", path));
  std::stringstream content;
  content << in.rdbuf();
  if (!absl::StrContains(content.str(), "-----BEGIN ")) {
    return absl::FailedPreconditionError(absl::StrCat(flag, ": ", path, " holds no PEM data"));
  }
  return content.str();
}

namespace {

// Whether `key_pem` is the private key of the first certificate in `cert_pem`
// (OpenSSL parses and compares; nothing is computed here).
bool KeyMatchesCertificate(const std::string& cert_pem, const std::string& key_pem) {
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  // An encrypted key is refused, never prompted for on the terminal.
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return 0; };
  X509* cert = cert_bio ? PEM_read_bio_X509(cert_bio, nullptr, no_passphrase, nullptr) : nullptr;
  EVP_PKEY* key =
      key_bio ? PEM_read_bio_PrivateKey(key_bio, nullptr, no_passphrase, nullptr) : nullptr;
  const bool matches = cert != nullptr && key != nullptr && X509_check_private_key(cert, key) == 1;
  EVP_PKEY_free(key);
  X509_free(cert);
  BIO_free(key_bio);
  BIO_free(cert_bio);
  ERR_clear_error();  // nothing of this check lingers in the thread's OpenSSL error queue
  return matches;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files, ClientCertificates client_certificates) {
  absl::StatusOr<std::string> cert = ReadPem(files.cert, "--tls-cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(files.key, "--tls-key");
  if (!key.ok()) return key.status();
  if (!KeyMatchesCertificate(*cert, *key)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "--tls-key: ", files.key, " is not the private key of the certificate in ", files.cert));
  }
  const bool verify_clients = client_certificates != ClientCertificates::kNone;
  if (verify_clients) {
    absl::StatusOr<std::string> ca = ReadPem(files.client_ca, "--client-ca");
    if (!ca.ok()) return ca.status();
  }
  // The provider reads the files now and again every interval; gRPC keeps
  // serving the last pair it read when a read fails.
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key, files.cert, verify_clients ? files.client_ca : "",
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(files.reload_interval))));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (verify_clients) {
    options.watch_root_certs();
    options.set_cert_request_type(client_certificates == ClientCertificates::kRequireAndVerify
                                      ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                      : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsFiles& files) {
  grpc::SslCredentialsOptions options;
  if (!files.ca.empty()) {
    absl::StatusOr<std::string> ca = ReadPem(files.ca, "--ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  if (files.cert.empty() != files.key.empty()) {
    return absl::InvalidArgumentError("--cert and --key go together");
  }
  if (!files.cert.empty()) {
    absl::StatusOr<std::string> cert = ReadPem(files.cert, "--cert");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem(files.key, "--key");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *cert;
    options.pem_private_key = *key;
  }
  return grpc::SslCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeClientChannel(
    const ClientChannelSettings& settings) {
  grpc::ChannelArguments args;
  if (!settings.user_agent.empty()) args.SetUserAgentPrefix(settings.user_agent);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (settings.insecure) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> tls =
        MakeChannelCredentials(settings.tls);
    if (!tls.ok()) return tls.status();
    credentials = *std::move(tls);
    if (!settings.server_name.empty()) args.SetSslTargetNameOverride(settings.server_name);
  }
  return grpc::CreateCustomChannel(settings.target, credentials, args);
}

}  // namespace warden::tls
