#pragma once

// Enforces Warden's decisions on a WireGuard interface (wireguard-go through
// UAPI, or the kernel through netlink). WireGuard has no login: a registered
// device is a peer the control plane provisions on the node (SetPeers on
// every attach, AddPeer / RemovePeer after), and a session is a run of
// handshakes of that peer.
//
// Owned peers. The driver touches only the peers it provisioned. They are
// kept in <state_dir>/wireguard-<iface>.json (owned_peer_file.h), so that
// after a restart the driver still knows which peers are its own. The owned set is the desired
// state of the interface: an owned peer missing from the interface is put back (wireguard-go was
// restarted), a withheld one found on it is taken off.
//
// Sessions. A poller reads the whole device every poll_interval and hands
// it to the observer (peer_observer.h), a pure function. An owned
// peer whose last handshake is younger than stale_after (WireGuard's
// reject-after, 180 s) and that has no session starts one: Admit runs on a
// small worker pool, never on the poller. Admitted: Opened. Refused: the peer
// is taken off the interface and marked withheld; only AddPeer, or the full
// set of the next Welcome (SetPeers), puts it back. A session ends ("idle")
// when its last handshake grows older than stale_after, and with the kill's
// reason when it is killed (the peer is then withheld, as after a refusal).
// Usage is reported at most every usage_interval per session.
//
// Session keys are "wg:<base64 public key>". At Start, owned peers that
// handshook recently are carried without asking (they were admitted before
// this agent restarted); the attach's reconcile decides about them.
//
// Threads: the poller, the admission pool, and the callers of the Driver
// methods (the agent's command executor). Lock order: poll_mu_, ops_mu_, mu_.
// DriverHost is never called with ops_mu_ or mu_ held.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/core/driver.h"
#include "agent/drivers/wireguard/owned_peer.h"
#include "agent/drivers/wireguard/peer_observer.h"
#include "agent/drivers/wireguard/wg_backend.h"
#include "agent/drivers/wireguard/wg_types.h"
#include "agent/drivers/wireguard/wireguard_options.h"
#include "common/clock.h"
#include "common/worker_pool.h"

namespace warden::agent::wireguard {

class WireGuardDriver final : public Driver {
 public:
  // An owned peer as the driver keeps it (tests, diagnostics).
  struct OwnedPeerView {
    PeerSpec spec;
    bool withheld = false;
    bool live = false;
  };

  // With `backend` null, Start opens one with OpenWgBackend(iface, uapi_dir),
  // and the poller keeps trying while the interface cannot be reached.
  explicit WireGuardDriver(WireGuardOptions options, std::unique_ptr<WgBackend> backend = nullptr,
                           const Clock& clock = RealClock::Get());
  ~WireGuardDriver() override;

  std::string name() const override { return "wireguard"; }
  // Loads the state file (an unreadable one is an error), makes one poll so
  // that the first hello carries the live sessions, then starts the poller.
  absl::Status Start(DriverHost& host) override;
  void Stop() override;
  std::vector<DriverSession> Inventory() override;
  absl::Status Kill(const std::string& session_key, const std::string& reason) override;
  absl::Status SetBandwidth(const std::string& username, int64_t bytes_per_second) override;
  bool Carries(const std::string& session_key) override;

  bool CarriesPeers() const override { return true; }
  // The full set: every peer is added or updated (and no longer withheld),
  // owned peers not in it are removed. Foreign peers are never touched.
  absl::Status SetPeers(const std::vector<PeerSpec>& peers) override;
  absl::Status AddPeer(const PeerSpec& peer) override;
  absl::Status RemovePeer(const std::string& public_key) override;
  // The interface's public key and listen port as last read (empty and 0
  // before the first read), and the endpoint= option.
  std::optional<WireGuardIdentity> Identity() override;

  // One poll: reads the device and acts on what changed. The poller calls it
  // every poll_interval; tests and benchmarks may call it too.
  absl::Status PollOnce();
  // The second half of PollOnce, on a device read at `read_at`.
  void Observe(const WgDevice& device, absl::Time read_at);

  std::vector<OwnedPeerView> OwnedPeers() const;
  // "" when state_dir is "".
  std::string state_path() const;

 private:
  // A full peer set from the control plane, checked.
  struct PeerSet {
    absl::flat_hash_map<Key, PeerSpec, KeyHash> wanted;
    // Named by a valid key but otherwise refused: such peers stay as they are.
    absl::flat_hash_set<Key, KeyHash> refused;
    int invalid = 0;
    std::string first_invalid;
  };
  // What adopting a peer set changes on the interface and in the state file.
  struct PeerChanges {
    std::vector<std::pair<Key, const PeerSpec*>> apply;  // into the PeerSet
    std::vector<Key> remove;
    bool save = false;  // what the state file records changed
  };
  struct ChangeCount {
    int applied = 0, removed = 0, failed = 0;
    std::string first_failure;
  };

  void Run();
  std::shared_ptr<WgBackend> Backend();
  absl::Status Poll(bool adopt);
  void ObserveAndAct(const WgDevice& device, absl::Time read_at, bool adopt);
  // Tells the agent's core, in order; never with ops_mu_ or mu_ held.
  void Tell(const std::vector<SessionReport>& reports);
  void Admit(AdmitQuery query, uint64_t ticket);
  void FinishAdmission(const AdmitQuery& query, uint64_t ticket, const AdmitAnswer& answer);
  // Applies the answer to the peer, if its admission is still the current
  // one; true when the peer is now withheld and must come off the interface.
  bool SettleAdmissionLocked(const Key& key, const AdmitQuery& query, uint64_t ticket,
                             const AdmitAnswer& answer, std::vector<SessionReport>& reports)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RepairInterface(const std::vector<PeerActions::PeerRepair>& repairs, absl::Time read_at);
  absl::Status ApplyPeer(WgBackend* backend, const Key& key, const PeerSpec& spec)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ops_mu_);
  static PeerSet ValidatePeerSet(const std::vector<PeerSpec>& peers);
  // Makes `set` the owned peers; the sessions of peers removed end in `closes`.
  PeerChanges AdoptPeerSetLocked(const PeerSet& set, std::vector<SessionReport>& closes)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyPeerChanges(const PeerChanges& changes, ChangeCount& count)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(ops_mu_);
  absl::Status LoadState();
  absl::Status SaveState() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ops_mu_);

  const WireGuardOptions options_;
  const Clock& clock_;
  DriverHost* host_ = nullptr;
  std::unique_ptr<WorkerPool> admitters_;
  std::thread poller_;
  absl::Notification stop_;
  std::atomic<bool> stopped_{false};

  absl::Mutex poll_mu_ ABSL_ACQUIRED_BEFORE(ops_mu_);
  std::string last_poll_error_ ABSL_GUARDED_BY(poll_mu_);
  // Serializes changes to the interface and to the state file.
  absl::Mutex ops_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::shared_ptr<WgBackend> backend_ ABSL_GUARDED_BY(mu_);
  OwnedPeerMap owned_ ABSL_GUARDED_BY(mu_);
  uint64_t poll_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<Key> interface_key_ ABSL_GUARDED_BY(mu_);
  int listen_port_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace warden::agent::wireguard
