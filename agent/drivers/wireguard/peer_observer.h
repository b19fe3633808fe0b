#pragma once

// The WireGuard driver's observer: one read of the interface in, what the
// driver must do out. A pure state transition: it updates the owned peers'
// bookkeeping and returns the actions (admissions to ask, sessions to report,
// peers to repair), and does no I/O, takes no lock and reads no clock, so it
// is tested as a function. The driver calls it under its lock and carries
// the actions out after.
//
// For each owned peer on the interface: a withheld one is to be taken off; a
// fresh handshake (younger than stale_after, and after the peer was added)
// without a session asks to be admitted, or, when adopting at start, is
// carried as live at once; a live session whose handshake went stale ends
// ("idle"), otherwise its counters move and usage is reported at most every
// usage_interval. Owned peers missing from the interface end their session
// and are put back, unless withheld or changed after the read.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/core/driver.h"
#include "agent/drivers/wireguard/owned_peer.h"
#include "agent/drivers/wireguard/wg_types.h"

namespace warden::agent::wireguard {

struct Observation {
  absl::Time read_at;  // when the device was read
  uint64_t poll = 0;   // this read's number, increasing
  // At start: sessions found are carried without asking (admitted before
  // this agent started; the attach's reconcile decides about them).
  bool adopt = false;
  absl::Duration stale_after;
  absl::Duration usage_interval;
};

struct PeerActions {
  struct Admission {
    AdmitQuery query;
    uint64_t ticket = 0;  // the peer's ticket: its answer applies only while it is current
  };
  enum class Repair { kAdd, kRemove };
  struct PeerRepair {
    Key key{};
    Repair repair = Repair::kAdd;
  };
  std::vector<Admission> admissions;
  std::vector<SessionReport> reports;  // in order
  std::vector<PeerRepair> repairs;
};

// `next_ticket` numbers the admissions it starts.
PeerActions ObservePeers(OwnedPeerMap& owned, const WgDevice& device,
                         const Observation& observation, uint64_t& next_ticket);

}  // namespace warden::agent::wireguard
