#pragma once

// Enforces Warden's decisions on a WireGuard interface (wireguard-go through
// UAPI, or the kernel through netlink). WireGuard has no login: a registered
// device is a peer the control plane provisions on the node (SetPeers on
// every attach, AddPeer / RemovePeer after), and a session is a run of
// handshakes of that peer.
//
// Owned peers. The driver touches only the peers it provisioned. Their
// public keys, usernames, device ids, allowed IPs and "withheld" marks are
// kept in <state_dir>/wireguard-<iface>.json (written to a temp file and
// renamed, mode 0600), so that after a restart the driver still knows which
// peers are its own. The owned set is the desired state of the interface:
// an owned peer missing from the interface is put back (wireguard-go was
// restarted), a withheld one found on it is taken off.
//
// Sessions. A poller reads the whole device every poll_interval. An owned
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
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "agent/core/driver.h"
#include "agent/drivers/wireguard/wg_backend.h"
#include "agent/drivers/wireguard/wg_types.h"
#include "common/clock.h"
#include "common/worker_pool.h"

namespace warden::agent::wireguard {

struct WireGuardOptions {
  std::string iface;
  absl::Duration poll_interval = absl::Seconds(1);
  // A handshake older than this ends the session (WireGuard's reject-after).
  absl::Duration stale_after = absl::Seconds(180);
  absl::Duration usage_interval = absl::Seconds(10);
  // Where wireguard-<iface>.json is kept; "" keeps the owned set in memory only.
  std::string state_dir;
  std::string uapi_dir = "/var/run/wireguard";
  // Admissions in flight at once, and queued beyond those.
  int admit_threads = 4;
  size_t admit_queue = 4096;
};

// "iface=wg0;poll=1;stale=180" (only iface is required). Also: poll-ms=
// (10..60000, for tests), usage= seconds, uapi-dir=. state_dir is not part of
// the spec: the agent passes its --state-dir.
absl::StatusOr<WireGuardOptions> ParseWireGuardSpec(absl::string_view spec);

// "wg:<base64>" for a public key, and back (false when `session_key` is not one).
std::string SessionKeyFor(const Key& public_key);
bool KeyOfSession(absl::string_view session_key, Key& public_key);

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

  // One poll: reads the device and acts on what changed. The poller calls it
  // every poll_interval; tests and benchmarks may call it too.
  absl::Status PollOnce();
  // The second half of PollOnce, on a device read at `read_at`.
  void Observe(const WgDevice& device, absl::Time read_at);

  std::vector<OwnedPeerView> OwnedPeers() const;
  // "" when state_dir is "".
  std::string state_path() const;

 private:
  enum class SessionState { kNone, kAdmitting, kLive };
  struct KeyHash {
    size_t operator()(const Key& key) const {
      size_t h;  // public keys are uniformly random
      std::memcpy(&h, key.data(), sizeof h);
      return h;
    }
  };
  struct Owned {
    PeerSpec spec;
    bool withheld = false;
    // Handshakes before this belong to an earlier life of the peer.
    absl::Time added_at = absl::InfinitePast();
    // When the driver last changed the peer on the interface; a poll read
    // before it does not repair the peer.
    absl::Time changed_at = absl::InfinitePast();
    bool present = false;  // on the interface at the last poll
    uint64_t seen_poll = 0;
    SessionState session = SessionState::kNone;
    uint64_t ticket = 0;  // the admission in flight
    absl::Time opened_at;
    std::string endpoint;
    // The peer's counters when the current session began (0 after (re)adding).
    int64_t rx_counted = 0, tx_counted = 0;
    int64_t rx = 0, tx = 0;  // of the current session
    absl::Time usage_at;
    int64_t usage_rx = 0, usage_tx = 0;
  };
  using HostCalls = std::vector<std::function<void()>>;
  enum class Repair { kAdd, kRemove };

  void Run();
  std::shared_ptr<WgBackend> Backend();
  absl::Status Poll(bool adopt);
  void ObserveLocked(const WgDevice& device, absl::Time read_at, bool adopt,
                     std::vector<AdmitQuery>& admissions, std::vector<uint64_t>& tickets,
                     std::vector<std::pair<Key, Repair>>& repairs, HostCalls& calls)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ObserveAndAct(const WgDevice& device, absl::Time read_at, bool adopt);
  void Admit(AdmitQuery query, uint64_t ticket);
  void FinishAdmission(const AdmitQuery& query, uint64_t ticket, const AdmitAnswer& answer);
  void RepairInterface(const std::vector<std::pair<Key, Repair>>& repairs, absl::Time read_at);
  // Ends a session the driver is taking down; returns the host call to make.
  std::function<void()> EndSessionLocked(const Key& key, Owned& owned, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyPeer(WgBackend* backend, const Key& key, const PeerSpec& spec)
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
  absl::flat_hash_map<Key, Owned, KeyHash> owned_ ABSL_GUARDED_BY(mu_);
  uint64_t poll_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace warden::agent::wireguard
