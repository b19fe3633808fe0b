// Channel set-up for grpcurl-compat: transport credentials from grpcurl's TLS flags, request
// metadata from its -H flags, and the blocking dial grpcurl performs before anything else.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warden::tools::grpcurl {

using Deadline = std::chrono::system_clock::time_point;

// Request metadata in command-line order; names are lowercase, as gRPC requires.
using Metadata = std::vector<std::pair<std::string, std::string>>;

// A status code's name as grpcurl prints it (Go's spelling): "NotFound", "Canceled".
const char* StatusCodeName(grpc::StatusCode code);

// Parses one 'name: value' header like grpcurl: the name is trimmed and lowercased, the value
// trimmed, a missing value is empty, and the value of a "-bin" header is base64-decoded when it
// decodes. With `expand_env`, ${NAME} in the value becomes that environment variable.
absl::StatusOr<std::pair<std::string, std::string>> ParseHeader(std::string_view header,
                                                                bool expand_env);

struct ConnectionOptions {
  std::string target;  // host:port, or unix:PATH
  bool plaintext = false;
  bool insecure = false;    // TLS without verifying the server's certificate
  std::string cacert_file;  // trusted roots instead of the system's
  std::string cert_file;    // client certificate for mutual TLS (with key_file)
  std::string key_file;
  std::string server_name;  // TLS name to verify, and the :authority sent
  std::string authority;    // :authority sent (and TLS name when server_name is empty)
  std::string user_agent;
  int max_receive_message_size = 0;  // 0: gRPC's default (4 MiB)
  double keepalive_seconds = 0;      // 0: no keepalive pings
};

// Creates the channel. Fails only for bad local input, such as an unreadable certificate file.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(const ConnectionOptions& options);

// Connects the channel, failing fast when the connection attempt fails (refused, TLS handshake)
// and with DeadlineExceeded when it is still connecting at `deadline`.
absl::Status WaitForConnection(const std::shared_ptr<grpc::Channel>& channel, Deadline deadline);

}  // namespace warden::tools::grpcurl
