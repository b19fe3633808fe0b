// Invoking a method named on the command line, with JSON in and JSON out, as grpcurl does.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "tools/grpcurl/connection.h"
#include "tools/grpcurl/reflection_client.h"

namespace warden::tools::grpcurl {

struct InvokeOptions {
  Metadata headers;                   // -H and -rpc-header
  std::optional<Deadline> deadline;   // -max-time; none means the call may take forever
  bool emit_defaults = false;         // -emit-defaults
  bool keep_proto_names = false;      // -keep-proto-names: snake_case keys instead of lowerCamel
  bool allow_unknown_fields = false;  // -allow-unknown-fields in the request JSON
  bool verbose = false;               // -v: method, metadata and counts on stderr
};

// Calls `method_name` ("pkg.Service/Method" or "pkg.Service.Method"), a unary or
// server-streaming method, with the JSON request in `request_data` (blank: an empty message).
// Each response is written to `out` as it arrives, as indented proto3 JSON.
//
// Returns the call's final status, OK or not, once the call was made; an error when it could not
// be made (unknown method, client streaming, bad request JSON) or a response did not decode.
absl::StatusOr<grpc::Status> Invoke(const std::shared_ptr<grpc::Channel>& channel,
                                    ReflectionClient& reflection, const std::string& method_name,
                                    std::string_view request_data, const InvokeOptions& options,
                                    std::ostream& out);

}  // namespace warden::tools::grpcurl
