#pragma once

// Who a relay reaches, decided from a room's view alone: members attached
// to this replica get it directly, members elsewhere through one NOTIFY.
// Pure; the hub applies it under its lock (hub_relay.cc).

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "warden/v1/signal.pb.h"

namespace warden::control::signal {

// Where a member of a room is attached.
struct MemberLocation {
  std::string replica;
  std::string stream_id;
};

struct RelayTargets {
  std::vector<std::string> local_streams;  // attached to this replica
  int remote = 0;                          // attached to other replicas
};

// The members a relay from `from_hex` reaches: the one with key `to_hex`,
// or ("" ) every other member. NOT_FOUND when no member has `to_hex`;
// INVALID_ARGUMENT when it is the sender's own.
absl::StatusOr<RelayTargets> TargetsOfRelay(const std::map<std::string, MemberLocation>& members,
                                            const std::string& from_hex, const std::string& to_hex,
                                            const std::string& replica_id);

// The NOTIFY payload carrying `notice` to other replicas, or
// FAILED_PRECONDITION when it exceeds `max_bytes` (PostgreSQL refuses
// payloads of 8000 bytes or more), naming how much payload does fit.
absl::StatusOr<std::string> RelayNoticePayload(const v1::SignalNotice& notice, size_t payload_bytes,
                                               size_t max_bytes);

}  // namespace warden::control::signal
