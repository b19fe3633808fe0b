#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "controlplane/model/device.h"

namespace warden::control::model {

enum class CommandKind { kKillSession, kSetBandwidth, kDrain, kAddPeer, kRemovePeer };

// An order for one node's agent, from the outbox.
struct Command {
  int64_t id = 0;
  std::string node_id;
  CommandKind kind = CommandKind::kKillSession;
  std::string session_id;   // kill
  std::string session_key;  // kill
  std::string reason;       // kill
  std::string user_id;      // bandwidth
  int64_t bandwidth_bytes_per_second = 0;
  bool draining = false;  // drain
  WireGuardPeer peer;     // add / remove peer
  absl::Time due_at;
};

// The agent's answer to a command.
struct CommandOutcome {
  bool acknowledged = false;  // the agent answered (at least one attempt)
  bool settled = false;       // nothing more will happen (a failed kill is retried)
  bool ok = false;
  std::string result;
};

}  // namespace warden::control::model
