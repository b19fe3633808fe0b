#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace warden {

// The one place where an absl::Status becomes what a gRPC caller sees. The
// message is passed through: by convention, status messages made inside
// Warden are safe for callers and internals are logged, never returned.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The inverse, for clients (the agent, tests, tools).
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace warden
