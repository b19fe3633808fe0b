// `describe`: a symbol's definition in .proto syntax, as grpcurl prints it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "tools/grpcurl/reflection_client.h"

namespace warden::tools::grpcurl {

// "<full name> is a message:" (or a service, a method, an enum...) followed by the definition.
// The layout follows protobuf's DebugString rather than grpcurl's printer byte for byte.
absl::StatusOr<std::string> Describe(ReflectionClient& reflection, std::string symbol);

}  // namespace warden::tools::grpcurl
