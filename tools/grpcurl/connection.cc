#include "tools/grpcurl/connection.h"

#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <iterator>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

#ifndef GRPCURL_COMPAT_VERSION
#define GRPCURL_COMPAT_VERSION "dev"
#endif

namespace warden::tools::grpcurl {
namespace {

// gRPC aborts the process on some malformed metadata, so names and values are checked here
// against the rules of the HTTP/2 transport (lowercase token names, printable ASCII values).
bool IsLegalHeaderName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

bool IsLegalTextHeaderValue(std::string_view value) {
  return std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c <= 0x7e; });
}

absl::StatusOr<std::string> ExpandEnvironment(std::string_view value) {
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t start = value.find("${", pos);
    if (start == std::string_view::npos) break;
    size_t end = value.find('}', start + 2);
    if (end == std::string_view::npos) break;
    std::string name(value.substr(start + 2, end - start - 2));
    const char* env = std::getenv(name.c_str());
    if (env == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("header refers to undefined environment variable \"", name, "\""));
    }
    out.append(value.data() + pos, start - pos);
    out.append(env);
    pos = end + 1;
  }
  out.append(value.data() + pos, value.size() - pos);
  return out;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Without -insecure: the classic SSL credentials, which verify the chain against -cacert (or
// the system roots) and the name against -servername/-authority (or the target host).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> VerifyingTlsCredentials(
    const ConnectionOptions& options) {
  grpc::SslCredentialsOptions ssl;
  if (!options.cacert_file.empty()) {
    absl::StatusOr<std::string> roots = ReadFile(options.cacert_file);
    if (!roots.ok()) return roots.status();
    ssl.pem_root_certs = *std::move(roots);
  }
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(options.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(options.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

// -insecure: SslCredentials cannot skip verification, so this uses the (experimental in 1.51)
// TLS credentials with verification off and a verifier that accepts any peer. The handshake
// still encrypts; it just no longer proves who the server is.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> UnverifiedTlsCredentials(
    const ConnectionOptions& options) {
  grpc::experimental::TlsChannelCredentialsOptions tls;
  tls.set_verify_server_certs(false);
  tls.set_check_call_host(false);
  tls.set_certificate_verifier(std::make_shared<grpc::experimental::NoOpCertificateVerifier>());
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(options.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(options.key_file);
    if (!key.ok()) return key.status();
    std::vector<grpc::experimental::IdentityKeyCertPair> identity = {{*key, *cert}};
    tls.set_certificate_provider(
        std::make_shared<grpc::experimental::StaticDataCertificateProvider>(identity));
    tls.watch_identity_key_cert_pairs();
  }
  return grpc::experimental::TlsCredentials(tls);
}

}  // namespace

const char* StatusCodeName(grpc::StatusCode code) {
  // Indexed by code: gRPC's numbering is fixed by the protocol.
  static constexpr const char* kNames[] = {
      "OK",       "Canceled",        "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",   "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",      "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated",
  };
  int index = static_cast<int>(code);
  return index >= 0 && index < static_cast<int>(std::size(kNames)) ? kNames[index] : "Unknown";
}

absl::StatusOr<std::pair<std::string, std::string>> ParseHeader(std::string_view header,
                                                                bool expand_env) {
  size_t colon = header.find(':');
  std::string name = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(absl::string_view(header.data(), std::min(colon, header.size()))));
  std::string value;
  if (colon != std::string_view::npos) {
    std::string_view rest = header.substr(colon + 1);
    value = std::string(absl::StripAsciiWhitespace(absl::string_view(rest.data(), rest.size())));
  }
  if (expand_env) {
    absl::StatusOr<std::string> expanded = ExpandEnvironment(value);
    if (!expanded.ok()) return expanded.status();
    value = *std::move(expanded);
  }
  if (!IsLegalHeaderName(name)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid header name \"", name, "\""));
  }
  if (absl::EndsWith(name, "-bin")) {
    // grpcurl takes binary values base64-encoded on the command line; gRPC encodes them again.
    std::string decoded;
    if (absl::Base64Unescape(value, &decoded) || absl::WebSafeBase64Unescape(value, &decoded)) {
      value = std::move(decoded);
    }
  } else if (!IsLegalTextHeaderValue(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid value for header \"", name, "\": only printable ASCII is allowed"));
  }
  return std::make_pair(std::move(name), std::move(value));
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(const ConnectionOptions& options) {
  grpc::ChannelArguments args;
  std::string user_agent = "grpcurl-compat/" GRPCURL_COMPAT_VERSION;
  if (!options.user_agent.empty()) user_agent = absl::StrCat(options.user_agent, " ", user_agent);
  args.SetUserAgentPrefix(user_agent);
  if (options.max_receive_message_size > 0) {
    args.SetMaxReceiveMessageSize(options.max_receive_message_size);
  }
  if (options.keepalive_seconds > 0) {
    int millis = static_cast<int>(options.keepalive_seconds * 1000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, millis);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, millis);
  }

  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.plaintext) {
    credentials = grpc::InsecureChannelCredentials();
    if (!options.authority.empty()) args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, options.authority);
  } else {
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> tls =
        options.insecure ? UnverifiedTlsCredentials(options) : VerifyingTlsCredentials(options);
    if (!tls.ok()) return tls.status();
    credentials = *std::move(tls);
    // Like grpcurl, one name serves as both the :authority and the name the certificate must
    // carry; -servername is the older spelling of -authority.
    const std::string& name = options.server_name.empty() ? options.authority : options.server_name;
    if (!name.empty()) {
      args.SetSslTargetNameOverride(name);
      args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, name);
    }
  }
  return grpc::CreateCustomChannel(options.target, credentials, args);
}

absl::Status WaitForConnection(const std::shared_ptr<grpc::Channel>& channel, Deadline deadline) {
  grpc_connectivity_state state = channel->GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_TRANSIENT_FAILURE || state == GRPC_CHANNEL_SHUTDOWN) {
      // The channel API does not say why the attempt failed, but a call that is not
      // wait-for-ready fails at once with the transport's reason ("Connection refused", a TLS
      // handshake error). The method need not exist: the call never leaves this process.
      grpc::GenericStub stub(channel);
      grpc::ClientContext context;
      context.set_deadline(
          std::min(deadline, std::chrono::system_clock::now() + std::chrono::seconds(1)));
      grpc::Slice empty;  // a default ByteBuffer holds no buffer at all, which gRPC rejects
      grpc::ByteBuffer request(&empty, 1), response;
      std::promise<grpc::Status> done;
      stub.UnaryCall(&context, "/grpcurl.compat.Dial/Probe", grpc::StubOptions(), &request,
                     &response, [&done](grpc::Status status) { done.set_value(status); });
      grpc::Status status = done.get_future().get();
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        return absl::UnavailableError(status.error_message());
      }
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
        return absl::DeadlineExceededError("context deadline exceeded");
      }
      // Any other answer came from a server: the channel reconnected meanwhile.
      return absl::OkStatus();
    } else if (!channel->WaitForStateChange(state, deadline)) {
      return absl::DeadlineExceededError("context deadline exceeded");
    }
    state = channel->GetState(/*try_to_connect=*/true);
  }
  return absl::OkStatus();
}

}  // namespace warden::tools::grpcurl
