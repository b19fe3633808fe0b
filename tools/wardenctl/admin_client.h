#pragma once

// The AdminService as wardenctl calls it: one channel, the API key on every
// call, a deadline on every unary call, and gRPC statuses turned into
// absl::Status once, here.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "tools/wardenctl/connection_settings.h"
#include "warden/v1/admin.grpc.pb.h"

namespace warden::wardenctl {

class AdminClient {
 public:
  template <typename Request, typename Response>
  using Method = grpc::Status (v1::AdminService::Stub::*)(grpc::ClientContext*, const Request&,
                                                          Response*);

  // Fails without a key (there is no admin call that needs none) and for
  // unreadable TLS files; the server is first contacted by the first call.
  static absl::StatusOr<std::unique_ptr<AdminClient>> Connect(ConnectionSettings settings,
                                                              absl::Duration timeout);

  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(Method<Request, Response> method, const Request& request) {
    std::unique_ptr<grpc::ClientContext> context = NewContext();
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
    Response response;
    grpc::Status status = (stub_.get()->*method)(context.get(), request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  // A context carrying the key and no deadline, for WatchEvents.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  v1::AdminService::Stub& stub() { return *stub_; }
  const ConnectionSettings& settings() const { return settings_; }
  absl::Duration timeout() const { return timeout_; }

 private:
  AdminClient(ConnectionSettings settings, absl::Duration timeout,
              std::shared_ptr<grpc::Channel> channel);

  ConnectionSettings settings_;
  absl::Duration timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AdminService::Stub> stub_;
};

}  // namespace warden::wardenctl
