#pragma once

// The API's enums in the words an operator types and reads: "evict-oldest"
// for EVICT_OLDEST, "wireguard" for WIREGUARD. Parsing also takes the API's
// own spelling, so that a name copied from JSON output works too.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "warden/v1/admin.pb.h"

namespace warden::wardenctl {

std::string ProtocolName(v1::Protocol protocol);
std::string ProtocolsText(
    const google::protobuf::RepeatedField<int>& protocols);  // "any" when empty
std::string PolicyName(v1::LimitPolicy policy);
std::string NodeStateName(v1::NodeState state);
std::string SessionStateName(v1::SessionState state);
std::string RoleName(v1::ApiKeyRole role);

absl::StatusOr<v1::Protocol> ParseProtocol(absl::string_view text);
absl::StatusOr<v1::LimitPolicy> ParsePolicy(absl::string_view text);
absl::StatusOr<v1::ApiKeyRole> ParseRole(absl::string_view text);
// "any" is UNSPECIFIED: the API's "no filter".
absl::StatusOr<v1::SessionState> ParseSessionState(absl::string_view text);

// The words each flag takes, for --help and the completion scripts.
const std::vector<std::string>& ProtocolWords();
const std::vector<std::string>& PolicyWords();
const std::vector<std::string>& RoleWords();
const std::vector<std::string>& SessionStateWords();

// Byte counts and rates: "1.5 MiB", "10 MiB/s"; a rate of 0 is "unlimited".
std::string BytesText(int64_t bytes);
std::string RateText(int64_t bytes_per_second);
// "10MiB", "500k", "1048576": k/M/G are powers of 1000, Ki/Mi/Gi of 1024,
// an optional trailing "B" or "/s" is allowed.
absl::StatusOr<int64_t> ParseByteRate(absl::string_view text);

}  // namespace warden::wardenctl
