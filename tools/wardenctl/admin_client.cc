#include "tools/wardenctl/admin_client.h"

#include "absl/strings/str_cat.h"
#include "common/tls.h"
#include "tools/wardenctl/exit_codes.h"

namespace warden::wardenctl {

absl::StatusOr<std::unique_ptr<AdminClient>> AdminClient::Connect(ConnectionSettings settings,
                                                                  absl::Duration timeout) {
  if (settings.key.empty()) {
    return LocalError(absl::StatusCode::kUnauthenticated,
                      absl::StrCat("no API key: set WARDEN_KEY (or WARDEN_KEY_FILE), pass "
                                   "--key-file FILE, or name a key-file in a context of ",
                                   settings.profile_path));
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = tls::MakeClientChannel({
      .target = settings.server,
      .insecure = settings.insecure,
      .tls = {.ca = settings.ca},
      .server_name = settings.server_name,
      .user_agent = "wardenctl/" WARDEN_VERSION,
  });
  if (!channel.ok()) {
    return LocalError(absl::StatusCode::kInvalidArgument, channel.status().message());
  }
  return std::unique_ptr<AdminClient>(
      new AdminClient(std::move(settings), timeout, *std::move(channel)));
}

AdminClient::AdminClient(ConnectionSettings settings, absl::Duration timeout,
                         std::shared_ptr<grpc::Channel> channel)
    : settings_(std::move(settings)),
      timeout_(timeout),
      channel_(std::move(channel)),
      stub_(v1::AdminService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> AdminClient::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->AddMetadata("authorization", absl::StrCat("Bearer ", settings_.key));
  return context;
}

}  // namespace warden::wardenctl
