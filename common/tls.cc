#include "common/tls.h"

#include <grpcpp/create_channel.h>

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

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files, ClientCertificates client_certificates) {
  absl::StatusOr<std::string> cert = ReadPem(files.cert, "--tls-cert");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadPem(files.key, "--tls-key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (client_certificates != ClientCertificates::kNone) {
    absl::StatusOr<std::string> ca = ReadPem(files.client_ca, "--client-ca");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request =
        client_certificates == ClientCertificates::kRequireAndVerify
            ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
            : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
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
