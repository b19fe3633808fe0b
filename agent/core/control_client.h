#pragma once

// The two small contracts between the agent's core and the control plane,
// as driver.h is the one between the core and the drivers. The core holds a
// ControlClient and is a LinkHandler; the link (agent/link) implements the
// first and calls the second. Neither side knows the other's concrete type,
// so the core is tested with a fake client and no network.

#include <vector>

#include "absl/status/statusor.h"
#include "warden/v1/agent.pb.h"

namespace warden::agent {

// What the core asks of the control plane. Thread-safe: drivers' threads
// call Admit at once.
class ControlClient {
 public:
  virtual ~ControlClient() = default;
  // Blocks up to `timeout`. UNAVAILABLE, DEADLINE_EXCEEDED and
  // RESOURCE_EXHAUSTED mean the control plane could not answer: the caller
  // applies its fail mode. Any other error means the call itself failed.
  virtual absl::StatusOr<v1::AdmitResponse> Admit(const v1::AdmitRequest& request,
                                                  absl::Duration timeout) = 0;
  // Queues a session event for the stream; never blocks. Opens and closes
  // are kept across reconnects, usage samples may be shed.
  virtual void SendEvent(v1::SessionEvent event) = 0;
};

// What the link asks of the core.
class LinkHandler {
 public:
  virtual ~LinkHandler() = default;
  // The full inventory, for the Hello of each new stream. From this call
  // until HelloSettled, the core sends no admission: one committed between
  // the inventory and the reconcile would be in neither, and the reconcile
  // would close it as lost while the node carries it.
  virtual std::vector<v1::InventorySession> Inventory() = 0;
  // The Hello was answered (with a Welcome, after the reconcile) or failed.
  virtual void HelloSettled() {}
  // The WireGuard interfaces the node serves, for the same Hello.
  virtual std::vector<v1::WireGuardInterface> WireGuardInterfaces() { return {}; }
  virtual void OnWelcome(const v1::Welcome& welcome) = 0;
  // Carries out a command (may block on a driver). Commands come at least
  // once, so this is idempotent: killing a session that is gone is success.
  virtual v1::CommandResult Execute(const v1::Command& command) = 0;
  virtual void OnLinkState(bool up) = 0;
};

}  // namespace warden::agent
