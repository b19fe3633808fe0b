#pragma once

// The user's side of SessionService and AccountService for warden-connect:
// log in once, keep the login's tokens in the login file, and call the
// self-service API with an access token that is refreshed (rotating the
// refresh token, with a retry-safe request id) when it has expired or the
// server says so.

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/account/login_file.h"
#include "common/grpc_status.h"
#include "warden/v1/account.grpc.pb.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::client {

struct ControlEndpoint {
  std::string control;  // host:port
  bool insecure = false;
  std::string ca{};
  std::string server_name{};
};

// Logs in with a password and returns what the login file keeps.
absl::StatusOr<SavedLogin> LogIn(const ControlEndpoint& endpoint, const std::string& username,
                                 const std::string& password, const std::string& device_label);

// Logs in through the control plane's single sign-on with the device
// authorization grant: tells the user (on `out`) where to go and which code to
// enter, then waits for their answer at the interval the provider asks for.
// `provider` may be empty when the server has one.
absl::StatusOr<SavedLogin> LogInWithProvider(const ControlEndpoint& endpoint,
                                             const std::string& provider,
                                             const std::string& device_label, std::ostream& out);

class AccountClient {
 public:
  template <typename Request, typename Response>
  using Method = grpc::Status (v1::AccountService::Stub::*)(grpc::ClientContext*, const Request&,
                                                            Response*);

  // The login in `path`; NOT_FOUND before `warden-connect login`.
  static absl::StatusOr<std::unique_ptr<AccountClient>> Open(std::string path);

  // Calls `method` with the current access token; after UNAUTHENTICATED it
  // refreshes once and calls again.
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(Method<Request, Response> method, const Request& request) {
    absl::StatusOr<Response> response = CallOnce(method, request);
    if (response.ok() || response.status().code() != absl::StatusCode::kUnauthenticated) {
      return response;
    }
    if (absl::Status refreshed = Refresh(); !refreshed.ok()) return refreshed;
    return CallOnce(method, request);
  }

  // A connect ticket for a node, from this login.
  absl::StatusOr<std::string> IssueConnectTicket();
  // Ends the login on the server (and its tunnels with `kill_tunnels`) and
  // forgets it here.
  absl::Status LogOut(bool kill_tunnels);

  const SavedLogin& login() const { return login_; }

 private:
  AccountClient(std::string path, SavedLogin login, std::shared_ptr<grpc::Channel> channel);

  template <typename Request, typename Response>
  absl::StatusOr<Response> CallOnce(Method<Request, Response> method, const Request& request) {
    if (absl::Status fresh = EnsureFreshAccess(); !fresh.ok()) return fresh;
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(15)));
    context.AddMetadata("authorization", "Bearer " + login_.access_token);
    Response response;
    const grpc::Status status = (account_.get()->*method)(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  // Refreshes ahead of the access token's expiry.
  absl::Status EnsureFreshAccess();
  // Rotates the refresh token and saves the new pair before using it.
  absl::Status Refresh();

  std::string path_;
  SavedLogin login_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SessionService::Stub> session_;
  std::unique_ptr<v1::AccountService::Stub> account_;
};

}  // namespace warden::client
