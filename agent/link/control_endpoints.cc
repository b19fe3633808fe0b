#include "agent/link/control_endpoints.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace warden::agent {

absl::StatusOr<std::vector<std::string>> ParseControlTargets(absl::string_view flag) {
  std::vector<std::string> targets;
  for (absl::string_view entry : absl::StrSplit(flag, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t colon = entry.rfind(':');
    if (entry.empty() || colon == absl::string_view::npos || colon == 0 ||
        colon + 1 == entry.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--control must be host:port, or several separated by commas; got \"", flag, "\""));
    }
    targets.emplace_back(entry);
  }
  return targets;
}

std::shared_ptr<grpc::Channel> MakeControlChannel(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const std::string& server_name, bool keepalive) {
  grpc::ChannelArguments args;
  if (keepalive) {
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  }
  if (!server_name.empty()) args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, server_name);
  // A name with several addresses: calls (and a new stream after a replica
  // went away) go to the next one that is up, not always the first.
  args.SetServiceConfigJSON(R"({"loadBalancingConfig": [{"round_robin": {}}]})");
  return grpc::CreateCustomChannel(
      target, credentials ? credentials : grpc::InsecureChannelCredentials(), args);
}

}  // namespace warden::agent
