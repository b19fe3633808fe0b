#pragma once

// The control plane's side of every agent link held by this replica, put
// together from its parts: attaching (epoch, reconcile through Commands),
// what the streams report (AgentReports), the NOTIFY channels that tie the
// replicas together — warden_commands wakes the Outbox, warden_acks the
// AckWaiters, warden_attach fences an older stream of a node (LinkRegistry)
// — and the ticker: heartbeats, silent links, Hello and wait deadlines.
// PostgreSQL is the only thing replicas share.
//
// The ticker never touches the database: recording heartbeats, looking for
// commands that fell due and provisioning withheld peers again are handed to
// a database worker, one of each at a time, so a slow database delays none
// of the heartbeats or deadlines.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/worker_pool.h"
#include "controlplane/admission/decide.h"
#include "controlplane/dispatch/ack_waiters.h"
#include "controlplane/dispatch/agent_channel.h"
#include "controlplane/dispatch/agent_reports.h"
#include "controlplane/dispatch/commands.h"
#include "controlplane/dispatch/link_registry.h"
#include "controlplane/dispatch/outbox.h"
#include "controlplane/store/attach_store.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/session_store.h"
#include "controlplane/store/shared_listener.h"

namespace warden::control::dispatch {

struct DispatcherOptions {
  std::string replica_id;
  store::SharedListener* listener = nullptr;  // the replica's LISTEN connection
  absl::Duration heartbeat_interval = absl::Seconds(10);
  absl::Duration tick = absl::Milliseconds(250);
  // Withheld WireGuard peers provisioned again per tick, at most.
  int reprovision_batch = 1000;
  // How recent a user's session on a node must be for the node's inventory
  // to name that user (see AttachStore::Reconcile); at least every agent's
  // --fail-open-window.
  absl::Duration inventory_adopt_window = absl::Hours(1);
  admission::DecideOptions decide_options;
};

struct AttachRequest {
  std::string agent_version;
  std::vector<std::string> drivers;  // "wireguard" gets the peer set
  std::vector<model::WireGuardInterface> wireguard_interfaces{};
  std::vector<store::InventoryItem> inventory;
  std::vector<store::ClosedReport> closed_while_away;
};

struct AttachResult {
  int64_t epoch = 0;
  std::string node_name;
  bool draining = false;
  store::ReconcileResult reconcile;
  // For an agent running the WireGuard driver: every peer it must carry.
  std::vector<model::WireGuardPeer> wireguard_peers;
};

// What the Dispatcher is made of; each outlives it.
struct DispatcherParts {
  LinkRegistry& links;
  Outbox& outbox;
  AckWaiters& waiters;
  Commands& commands;
  store::CommandStore& command_store;
  store::AttachStore& attach;
  store::SessionStore& sessions;
  store::DeviceStore& devices;
  UsageLedger& ledger;
  // `event_workers` apply what agents report (acknowledgements, session
  // events); `db_workers` do the rest (delivery, attach, waiters, sweeps).
  WorkerPool& db_workers;
  WorkerPool& event_workers;
};

class Dispatcher {
 public:
  Dispatcher(DispatcherOptions options, DispatcherParts parts, const Clock& clock,
             metrics::Registry& metrics);
  ~Dispatcher();

  void Start();
  void Stop();

  // A stream that has not said Hello yet: closed if it stays silent.
  void AwaitHello(std::shared_ptr<AgentChannel> channel);
  // Blocking (database): epoch, reconcile, the WireGuard peer set, then
  // registers the channel. Nothing is sent on it before DeliverPending.
  absl::StatusOr<AttachResult> Attach(const store::NodeIdentity& node, AttachRequest request,
                                      std::shared_ptr<AgentChannel> channel);
  // After the Welcome is queued: send what is pending, and from now on
  // whatever is committed for the node.
  void DeliverPending(const std::string& node_id);
  void Detach(const std::string& node_id, const AgentChannel* channel);
  // Ends every agent stream here with `why`: the agents attach elsewhere.
  void DetachAll(const absl::Status& why);

  // What an attached stream reports goes here.
  using Applied = AgentReports::Applied;
  AgentReports& reports() { return reports_; }
  void OnHeard(const std::string& node_id);

  int attached_count() const;
  bool IsAttached(const std::string& node_id) const;

 private:
  void OnNotification(const std::string& channel, const std::string& payload);
  void CatchUp();
  // An answer recorded elsewhere (or a settlement) woke us: read it.
  void ResolveFromStore(int64_t command_id);
  void RunTicker();
  void Tick();
  // One slice of the links: a round of all of them takes the heartbeat
  // interval.
  void Heartbeat(int slice, int slices);
  // Runs `work` on a database worker unless the last one given with `busy`
  // is still queued or running: the ticker never waits for the database,
  // and a slow one does not collect a pile of the same work.
  void Offload(std::atomic<bool>& busy, absl::AnyInvocable<void() &&> work);

  const DispatcherOptions options_;
  LinkRegistry& links_;
  Outbox& outbox_;
  AckWaiters& waiters_;
  Commands& commands_;
  store::CommandStore& command_store_;
  store::AttachStore& attach_;
  store::DeviceStore& devices_;
  WorkerPool& db_workers_;
  const Clock& clock_;
  AgentReports reports_;

  std::atomic<bool> sweeping_{false};
  std::atomic<bool> touching_{false};
  // Nodes heartbeated and not yet recorded: a slice whose write found the
  // last one still running goes with the next, so no node misses a round.
  absl::Mutex untouched_mu_;
  absl::flat_hash_set<std::string> untouched_ ABSL_GUARDED_BY(untouched_mu_);
  int subscription_ = 0;
  absl::Notification stop_;
  std::thread ticker_;
};

}  // namespace warden::control::dispatch
