#pragma once

// The control plane's side of every agent link held by this replica:
// attaching (epoch, reconcile), delivering commands from the outbox when
// they are committed (NOTIFY warden_commands) or fall due, fencing older
// streams of a node (NOTIFY warden_attach), heartbeats, and waking callers
// that wait for an acknowledgement (NOTIFY warden_acks). PostgreSQL is the
// only thing replicas share.

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/worker_pool.h"
#include "controlplane/admission/decide.h"
#include "controlplane/dispatch/agent_channel.h"
#include "controlplane/store/attach_store.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/device_store.h"
#include "controlplane/store/node_store.h"
#include "controlplane/store/notification_listener.h"
#include "controlplane/store/session_store.h"

namespace warden::control::dispatch {

struct DispatcherOptions {
  std::string replica_id;
  std::string listen_connection_string;  // for LISTEN (a dedicated connection)
  absl::Duration heartbeat_interval = absl::Seconds(10);
  absl::Duration tick = absl::Milliseconds(250);
  absl::Duration hello_timeout = absl::Seconds(10);
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

class Dispatcher {
 public:
  // `event_workers` apply what agents report (acknowledgements, session
  // events); `db_workers` do the rest (delivery, attach, waiters).
  Dispatcher(DispatcherOptions options, store::CommandStore& commands, store::AttachStore& attach,
             store::SessionStore& sessions, store::DeviceStore& devices, WorkerPool& db_workers,
             WorkerPool& event_workers, const Clock& clock, metrics::Registry& metrics);
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

  // From the agent. Non-blocking: the report is applied on an event worker,
  // then `applied` runs there. A stream hands over its next report only
  // after the previous one is applied, so nothing is ever dropped and the
  // queue holds at most one report per stream (a busy database slows the
  // agents' streams down instead). False: the event queue is full, nothing
  // was done and `applied` will not run; the stream should end (its agent
  // reconnects, and the reconcile settles what it carried).
  using Applied = absl::AnyInvocable<void() &&>;
  bool OnResult(const std::string& node_id, int64_t command_id, bool ok, std::string error,
                Applied applied);
  bool OnClosed(const store::NodeIdentity& node, store::ClosedReport closed, Applied applied);
  bool OnOpened(const std::string& node_id, std::string session_id, std::string session_key,
                std::string tunnel_address, Applied applied);
  bool OnUsage(const std::string& node_id, std::string session_id, std::string session_key,
               int64_t rx_bytes, int64_t tx_bytes, Applied applied);
  void OnHeard(const std::string& node_id);

  // A command was committed for `node_id`: deliver now if the node is here
  // (the NOTIFY reaches the other replicas).
  void Kick(const std::string& node_id);

  using OutcomeDone = absl::AnyInvocable<void(absl::StatusOr<model::CommandOutcome>) &&>;
  // Calls `done` when the agent acknowledged the command, or with
  // DEADLINE_EXCEEDED at `deadline`. May block briefly (database).
  void AwaitOutcome(int64_t command_id, absl::Time deadline, OutcomeDone done);

  int attached_count() const;
  bool IsAttached(const std::string& node_id) const;

 private:
  struct InFlight {
    model::CommandKind kind;
    absl::Time due_at;
  };
  struct Link {
    std::shared_ptr<AgentChannel> channel;
    int64_t epoch = 0;
    absl::Time last_heard;
    std::map<int64_t, InFlight> in_flight;  // sent, not acknowledged
    bool delivery_scheduled = false;
    bool welcomed = false;  // commands go out only behind the Welcome
  };
  struct Waiter {
    absl::Time deadline;
    OutcomeDone done;
  };

  void OnNotification(const std::string& channel, const std::string& payload);
  void CatchUp();
  void Deliver(const std::string& node_id);
  void ScheduleDelivery(const std::string& node_id);
  void ResolveWaiters(int64_t command_id);
  // The answer to a command is recorded (or lost): it may be sent again.
  void SettleInFlight(const std::string& node_id, int64_t command_id);
  void Tick();
  // Withheld WireGuard peers whose users are under their limits again.
  void Reprovision();
  void RunTicker();

  const DispatcherOptions options_;
  store::CommandStore& commands_;
  store::AttachStore& attach_;
  store::SessionStore& sessions_;
  store::DeviceStore& devices_;
  WorkerPool& db_workers_;
  WorkerPool& event_workers_;
  const Clock& clock_;

  // Commands by kind: handed to a stream; answered (acked or failed); and
  // the time from falling due to the agent's answer.
  metrics::Family<metrics::Counter>& sent_;
  metrics::Family<metrics::Counter>& results_;
  metrics::Family<metrics::Histogram>& delivery_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Link> links_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::shared_ptr<AgentChannel>, absl::Time>> awaiting_hello_
      ABSL_GUARDED_BY(mu_);
  std::map<int64_t, std::vector<Waiter>> waiters_ ABSL_GUARDED_BY(mu_);

  std::unique_ptr<store::NotificationListener> listener_;
  absl::Notification stop_;
  std::thread ticker_;
};

}  // namespace warden::control::dispatch
