#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "controlplane/model/command.h"

namespace warden::control::dispatch {

// What the dispatcher needs of an agent's stream; the transport implements
// it. Calls never block: they queue, and the stream writes in order.
class AgentChannel {
 public:
  virtual ~AgentChannel() = default;
  // False when the stream is gone or its queue is full (then it is closed).
  virtual bool Send(const model::Command& command) = 0;
  virtual void SendHeartbeat() = 0;
  // Ends the stream with `status` (e.g. ABORTED "superseded").
  virtual void Close(const absl::Status& status) = 0;
};

}  // namespace warden::control::dispatch
