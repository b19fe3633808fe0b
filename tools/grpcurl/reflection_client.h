// The server's schema, learned through gRPC server reflection the way grpcurl learns it.
#pragma once

#include <google/protobuf/descriptor.h>
#include <grpcpp/channel.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/grpcurl/connection.h"

namespace warden::tools::grpcurl {

// Speaks grpc.reflection.v1alpha (the only version gRPC C++ 1.51 servers serve) over one
// ServerReflectionInfo stream, opened on first use. Descriptors load lazily into a
// DescriptorPool: a lookup fetches the file defining the symbol plus any imports the pool lacks.
// A symbol or file the server cannot describe falls back to the descriptors compiled into this
// binary; that is how grpc.health.v1.Health works, which gRPC C++ lists but cannot describe.
class ReflectionClient {
 public:
  // `headers` go with the reflection stream (grpcurl's -H and -reflect-header); `deadline`
  // bounds it (-max-time).
  ReflectionClient(std::shared_ptr<grpc::Channel> channel, Metadata headers,
                   std::optional<Deadline> deadline);
  ~ReflectionClient();
  ReflectionClient(const ReflectionClient&) = delete;
  ReflectionClient& operator=(const ReflectionClient&) = delete;

  // Fully-qualified names of the services the server exposes, sorted.
  absl::StatusOr<std::vector<std::string>> ListServices();

  // Makes `symbol` (a package-qualified name of a service, method, message, enum, field...)
  // available in pool(). NotFound with "Symbol not found: ..." when nobody knows it; another
  // error when reflection itself failed.
  absl::Status Resolve(const std::string& symbol);

  const google::protobuf::DescriptorPool& pool() const { return *pool_; }

 private:
  class Database;
  class ErrorCollector;

  std::unique_ptr<Database> database_;
  std::unique_ptr<ErrorCollector> errors_;
  std::unique_ptr<google::protobuf::DescriptorPool> pool_;
};

}  // namespace warden::tools::grpcurl
