#include "controlplane/signal/relay.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace warden::control::signal {

absl::StatusOr<RelayTargets> TargetsOfRelay(const std::map<std::string, MemberLocation>& members,
                                            const std::string& from_hex, const std::string& to_hex,
                                            const std::string& replica_id) {
  RelayTargets targets;
  const auto add = [&](const MemberLocation& where) {
    if (where.replica == replica_id) {
      targets.local_streams.push_back(where.stream_id);
    } else {
      ++targets.remote;
    }
  };
  if (to_hex.empty()) {
    for (const auto& [key_hex, where] : members) {
      if (key_hex != from_hex) add(where);
    }
    return targets;
  }
  auto member = members.find(to_hex);
  if (member == members.end()) {
    return absl::NotFoundError("no member with that key (relay.to) is in the room");
  }
  if (member->first == from_hex) {
    return absl::InvalidArgumentError("relay.to is this stream's own key");
  }
  add(member->second);
  return targets;
}

absl::StatusOr<std::string> RelayNoticePayload(const v1::SignalNotice& notice, size_t payload_bytes,
                                               size_t max_bytes) {
  std::string published = absl::Base64Escape(notice.SerializeAsString());
  if (published.size() <= max_bytes) return published;
  return absl::FailedPreconditionError(absl::StrCat(
      "a relay of ", payload_bytes,
      " bytes cannot reach members attached to other replicas (their link carries about ",
      max_bytes * 3 / 4 - 200, " bytes of payload); send it in smaller pieces"));
}

}  // namespace warden::control::signal
