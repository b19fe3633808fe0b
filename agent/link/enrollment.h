#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "warden/v1/agent.pb.h"

namespace warden::agent {

// The node credential kept in `state_dir`/credential (mode 0600). When the
// file does not exist, the enrolment ticket is traded for a credential
// (retrying while the control plane is unreachable, up to `patience`) and
// the file written. A refused ticket is UNAUTHENTICATED with the reason.
absl::StatusOr<std::string> EnsureCredential(const std::string& state_dir,
                                             const std::string& enroll_ticket,
                                             const std::vector<std::string>& targets,
                                             std::shared_ptr<grpc::ChannelCredentials> credentials,
                                             const std::string& server_name,
                                             const v1::NodeFacts& facts, absl::Duration patience);

}  // namespace warden::agent
