#pragma once

// gRPC transport credentials from PEM files: the control plane's server
// certificate (optionally asking agents for client certificates), and the
// agent's view of the control plane.

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace warden::tls {

// The whole file; FAILED_PRECONDITION naming `flag` when it cannot be read
// or holds no PEM block.
absl::StatusOr<std::string> ReadPem(const std::string& path, const std::string& flag);

enum class ClientCertificates {
  kNone,              // server-only TLS
  kRequestAndVerify,  // a client may present one; if it does, it must verify
  kRequireAndVerify,  // every client must present one that verifies
};

struct ServerTlsFiles {
  std::string cert;       // --tls-cert
  std::string key;        // --tls-key
  std::string client_ca;  // --client-ca ("" = none)
  // How often the files are read again: a renewed certificate is served to
  // new connections without a restart. Replace the files together (the
  // kubelet swaps a Secret volume's files at once; elsewhere, point a
  // symlink at a directory with both and rename it): a certificate read with
  // the previous key fails handshakes until the next read.
  absl::Duration reload_interval = absl::Minutes(1);
};

// FAILED_PRECONDITION, naming the file, when a file cannot be read, holds no
// PEM, or the key is not the certificate's: the server does not start with
// credentials no handshake could use.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsFiles& files, ClientCertificates client_certificates);

struct ClientTlsFiles {
  std::string ca;      // --ca ("" = the system's roots)
  std::string cert{};  // --cert ("" = no client certificate)
  std::string key{};   // --key
};

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(
    const ClientTlsFiles& files);

// Where a command-line client (wardenctl, warden-connect) calls the control
// plane: plaintext only when asked, else TLS with `tls`.
struct ClientChannelSettings {
  std::string target;  // host:port
  bool insecure = false;
  ClientTlsFiles tls{};
  std::string server_name{};  // the name the certificate must carry ("" = the host)
  std::string user_agent{};   // "wardenctl/0.1.0"
};

// MakeChannelCredentials' error when a TLS file cannot be read; the server
// is first contacted by the first call.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeClientChannel(
    const ClientChannelSettings& settings);

}  // namespace warden::tls
