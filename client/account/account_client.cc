#include "client/account/account_client.h"

#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/secrets.h"
#include "common/tls.h"
#include "tools/wardenctl/time_text.h"

namespace warden::client {
namespace {

absl::StatusOr<std::shared_ptr<grpc::Channel>> OpenChannel(const ControlEndpoint& endpoint) {
  return tls::MakeClientChannel({
      .target = endpoint.control,
      .insecure = endpoint.insecure,
      .tls = {.ca = endpoint.ca},
      .server_name = endpoint.server_name,
      .user_agent = "warden-connect/" WARDEN_VERSION,
  });
}

// Trailing metadata `name` as milliseconds, or 0.
int64_t TrailingMillis(const grpc::ClientContext& context, const std::string& name) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto found = trailers.find(name);
  int64_t value = 0;
  if (found == trailers.end() ||
      !absl::SimpleAtoi(std::string(found->second.data(), found->second.size()), &value)) {
    return 0;
  }
  return value;
}

SavedLogin SaveTokens(const ControlEndpoint& endpoint, const std::string& username,
                      const v1::LoginResponse& response) {
  SavedLogin login;
  login.control = endpoint.control;
  login.insecure = endpoint.insecure;
  login.ca = endpoint.ca;
  login.server_name = endpoint.server_name;
  login.username = username;
  login.family_id = response.family_id();
  login.access_token = response.access_token();
  login.access_expires_at = wardenctl::FromTimestamp(response.access_expires_at());
  login.refresh_token = response.refresh_token();
  return login;
}

// Who the provider's login made us, for the login file and the greeting.
absl::StatusOr<std::string> WhoAmI(const std::shared_ptr<grpc::Channel>& channel,
                                   const std::string& access_token) {
  std::unique_ptr<v1::AccountService::Stub> account = v1::AccountService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(15)));
  context.AddMetadata("authorization", "Bearer " + access_token);
  v1::Me me;
  if (grpc::Status status = account->GetMe(&context, v1::GetMeRequest(), &me); !status.ok()) {
    return FromGrpcStatus(status);
  }
  return me.username();
}

}  // namespace

absl::StatusOr<SavedLogin> LogIn(const ControlEndpoint& endpoint, const std::string& username,
                                 const std::string& password, const std::string& device_label) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(endpoint);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<v1::SessionService::Stub> session = v1::SessionService::NewStub(*channel);
  v1::LoginRequest request;
  request.set_username(username);
  request.set_password(password);
  request.set_device_label(device_label);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(15)));
  v1::LoginResponse response;
  if (grpc::Status status = session->Login(&context, request, &response); !status.ok()) {
    return FromGrpcStatus(status);
  }
  return SaveTokens(endpoint, username, response);
}

absl::StatusOr<SavedLogin> LogInWithProvider(const ControlEndpoint& endpoint,
                                             const std::string& provider,
                                             const std::string& device_label, std::ostream& out) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(endpoint);
  if (!channel.ok()) return channel.status();
  std::unique_ptr<v1::SessionService::Stub> session = v1::SessionService::NewStub(*channel);
  v1::StartDeviceLoginRequest start;
  start.set_provider(provider);
  start.set_device_label(device_label);
  v1::StartDeviceLoginResponse started;
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    if (grpc::Status status = session->StartDeviceLogin(&context, start, &started); !status.ok()) {
      return FromGrpcStatus(status);
    }
  }
  out << "To log in, open " << started.verification_uri() << " and enter the code "
      << started.user_code() << "\n";
  if (!started.verification_uri_complete().empty()) {
    out << "(or open " << started.verification_uri_complete() << ")\n";
  }
  out << "Waiting for you to approve it there..." << std::endl;
  v1::PollDeviceLoginRequest poll;
  poll.set_device_login_id(started.device_login_id());
  absl::Duration interval = absl::Seconds(std::max(1, started.interval_seconds()));
  const absl::Time give_up = wardenctl::FromTimestamp(started.expires_at()) + absl::Seconds(5);
  while (absl::Now() < give_up) {
    absl::SleepFor(interval);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::PollDeviceLoginResponse answer;
    const grpc::Status status = session->PollDeviceLogin(&context, poll, &answer);
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) continue;  // try again next time
    if (!status.ok()) return FromGrpcStatus(status);
    if (answer.interval_seconds() > 0) interval = absl::Seconds(answer.interval_seconds());
    switch (answer.state()) {
      case v1::DEVICE_LOGIN_COMPLETE: {
        absl::StatusOr<std::string> username = WhoAmI(*channel, answer.login().access_token());
        if (!username.ok()) return username.status();
        return SaveTokens(endpoint, *username, answer.login());
      }
      case v1::DEVICE_LOGIN_DENIED:
        return absl::PermissionDeniedError(answer.message());
      case v1::DEVICE_LOGIN_EXPIRED:
        return absl::DeadlineExceededError(answer.message());
      default:
        break;  // pending or slow down: wait the interval it gave
    }
  }
  return absl::DeadlineExceededError("the code expired before the login was approved; try again");
}

absl::StatusOr<std::unique_ptr<AccountClient>> AccountClient::Open(std::string path) {
  absl::StatusOr<SavedLogin> login = ReadLogin(path);
  if (!login.ok()) return login.status();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = OpenChannel(ControlEndpoint{
      .control = login->control,
      .insecure = login->insecure,
      .ca = login->ca,
      .server_name = login->server_name,
  });
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<AccountClient>(
      new AccountClient(std::move(path), *std::move(login), *std::move(channel)));
}

AccountClient::AccountClient(std::string path, SavedLogin login,
                             std::shared_ptr<grpc::Channel> channel)
    : path_(std::move(path)),
      login_(std::move(login)),
      channel_(std::move(channel)),
      session_(v1::SessionService::NewStub(channel_)),
      account_(v1::AccountService::NewStub(channel_)) {}

absl::Status AccountClient::EnsureFreshAccess() {
  // A margin for the clocks and the call's own time.
  if (absl::Now() + absl::Seconds(30) < login_.access_expires_at) return absl::OkStatus();
  return Refresh();
}

absl::Status AccountClient::Refresh() {
  v1::RefreshRequest request;
  request.set_refresh_token(login_.refresh_token);
  // One id for this refresh and its retries: a retry after a lost answer
  // then gets the tokens that refresh made instead of looking like a replay.
  request.set_request_id(secrets::NewToken(""));
  for (int attempt = 0; attempt < 3; ++attempt) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(15)));
    v1::RefreshResponse response;
    const grpc::Status status = session_->Refresh(&context, request, &response);
    if (status.ok()) {
      login_.access_token = response.access_token();
      login_.refresh_token = response.refresh_token();
      login_.access_expires_at = wardenctl::FromTimestamp(response.access_expires_at());
      // Saved before use: the old refresh token is spent now.
      return WriteLogin(path_, login_);
    }
    const int64_t retry_ms = TrailingMillis(context, "retry-after-ms");
    const bool retryable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           (status.error_code() == grpc::StatusCode::ABORTED && retry_ms > 0);
    if (!retryable) {
      if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        return absl::UnauthenticatedError(absl::StrCat(
            "the login has ended (", status.error_message(), "): run warden-connect login"));
      }
      return FromGrpcStatus(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(retry_ms > 0 ? retry_ms : 500));
  }
  return absl::UnavailableError("cannot refresh the login: the control plane did not answer");
}

absl::StatusOr<std::string> AccountClient::IssueConnectTicket() {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (absl::Status fresh = EnsureFreshAccess(); !fresh.ok()) return fresh;
    v1::IssueConnectTicketRequest request;
    request.set_access_token(login_.access_token);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(15)));
    v1::IssueConnectTicketResponse response;
    const grpc::Status status = session_->IssueConnectTicket(&context, request, &response);
    if (status.ok()) return response.ticket();
    if (status.error_code() != grpc::StatusCode::UNAUTHENTICATED || attempt > 0) {
      return FromGrpcStatus(status);
    }
    if (absl::Status refreshed = Refresh(); !refreshed.ok()) return refreshed;
  }
  return absl::UnauthenticatedError("the login has ended: run warden-connect login");
}

absl::Status AccountClient::LogOut(bool kill_tunnels) {
  absl::Status fresh = EnsureFreshAccess();
  if (fresh.ok()) {
    v1::LogoutRequest request;
    request.set_access_token(login_.access_token);
    request.set_scope(kill_tunnels ? v1::FAMILY : v1::CURRENT);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(15)));
    v1::LogoutResponse response;
    const grpc::Status status = session_->Logout(&context, request, &response);
    // A login the server no longer knows is ended already.
    if (!status.ok() && status.error_code() != grpc::StatusCode::UNAUTHENTICATED) {
      return FromGrpcStatus(status);
    }
  } else if (fresh.code() != absl::StatusCode::kUnauthenticated) {
    return fresh;
  }
  return RemoveLogin(path_);
}

}  // namespace warden::client
