#pragma once

// Where warden-control is, as --control gives it: one host:port, or several
// separated by commas (replicas an agent reaches directly). The link tries
// them in turn when the one it is attached to goes away. A DNS name that
// resolves to several addresses (a headless Service) is spread over too:
// each channel balances round robin over its name's addresses.

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace warden::agent {

// INVALID_ARGUMENT for an empty list or an entry that is not host:port.
absl::StatusOr<std::vector<std::string>> ParseControlTargets(absl::string_view flag);

// A channel to one target; `server_name` overrides the name checked in the
// control plane's certificate ("" = the target's host). `keepalive` for the
// long-lived Attach stream.
std::shared_ptr<grpc::Channel> MakeControlChannel(
    const std::string& target, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const std::string& server_name, bool keepalive);

}  // namespace warden::agent
