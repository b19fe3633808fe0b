#pragma once

// Which agents are attached to this replica and how each link stands: its
// stream, its attach epoch, when it was last heard, whether its Welcome is
// out (commands go only behind it), whether a delivery is queued for it, and
// what was sent on it and not answered yet; plus the streams that have not
// said Hello.
//
// Bookkeeping only: time comes from the injected Clock, nothing here touches
// the database, sends, or waits on anything but its own mutex, so stream
// threads, database workers and the ticker all call it freely. A call that
// takes a link away returns its channel; the caller closes it, outside the
// lock (a channel's Close may run a stream's completion).

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "controlplane/dispatch/agent_channel.h"
#include "controlplane/model/command.h"

namespace warden::control::dispatch {

struct LinkRegistryOptions {
  // A link not heard from for three intervals is dead.
  absl::Duration heartbeat_interval = absl::Seconds(10);
  // A stream that has not said Hello this long after opening is closed.
  absl::Duration hello_timeout = absl::Seconds(10);
};

// A command handed to a stream and not answered yet.
struct InFlight {
  model::CommandKind kind;
  absl::Time due_at;
};

// One heartbeat round: the links heard from recently enough (heartbeat them),
// and those that were not (already removed: close them).
struct HeartbeatRound {
  std::vector<std::shared_ptr<AgentChannel>> alive;
  std::vector<std::string> alive_nodes;
  std::vector<std::shared_ptr<AgentChannel>> silent;
};

class LinkRegistry {
 public:
  LinkRegistry(LinkRegistryOptions options, const Clock& clock);

  // A stream that has not said Hello yet.
  void AwaitHello(std::shared_ptr<AgentChannel> channel);
  // It did (or it ended): no longer timed.
  void HelloHeard(const AgentChannel* channel);
  // Streams silent past hello_timeout, taken off the list: close them.
  std::vector<std::shared_ptr<AgentChannel>> ExpireHellos();

  // The node attached at `epoch` somewhere: a link here with an older epoch
  // is taken away and its channel returned (null if there was none).
  std::shared_ptr<AgentChannel> Fence(const std::string& node_id, int64_t epoch);
  // `channel` becomes the node's link at `epoch`, heard now, not welcomed.
  // ABORTED when a newer epoch holds the node here; otherwise the channel it
  // replaced, if any and different (close it).
  absl::StatusOr<std::shared_ptr<AgentChannel>> Register(const std::string& node_id, int64_t epoch,
                                                         std::shared_ptr<AgentChannel> channel);
  // The Welcome is queued: commands may follow. False if the node is not here.
  bool Welcome(const std::string& node_id);
  // The stream ended: its link goes, unless a newer stream took the node.
  void Detach(const std::string& node_id, const AgentChannel* channel);
  void Heard(const std::string& node_id);

  // Delivery, one at a time per node: true when the caller is to deliver
  // (the link is welcomed and no delivery is queued yet); then
  // ReleaseDelivery if it could not queue one, BeginDelivery when it starts.
  bool ClaimDelivery(const std::string& node_id);
  void ReleaseDelivery(const std::string& node_id);
  // A wake that arrives from now on queues another delivery. False if the
  // node is no longer here.
  bool BeginDelivery(const std::string& node_id);
  // Of `pending`, those not on the stream already, now counted in flight,
  // and the stream to send them on (null, and nothing taken, if the node is
  // gone).
  std::shared_ptr<AgentChannel> TakeUnsent(const std::string& node_id,
                                           std::span<const model::Command> pending,
                                           std::vector<const model::Command*>& unsent);
  // The agent answered `command_id`: what was in flight, if this link sent it.
  std::optional<InFlight> Answered(const std::string& node_id, int64_t command_id);

  // Takes away the links silent for three heartbeat intervals. A round may
  // cover one of `slices` parts of the links (each node is always in the
  // same part), so that a fleet's heartbeats and their writes are spread
  // over the interval instead of leaving in one burst.
  HeartbeatRound Heartbeat(int slice = 0, int slices = 1);
  // Every link and waiting stream, taken away (shutdown).
  std::vector<std::shared_ptr<AgentChannel>> TakeAll();

  std::vector<std::string> Nodes() const;
  int size() const;
  bool IsAttached(const std::string& node_id) const;

 private:
  struct Link {
    std::shared_ptr<AgentChannel> channel;
    int64_t epoch = 0;
    absl::Time last_heard;
    std::map<int64_t, InFlight> in_flight;
    bool delivery_scheduled = false;
    bool welcomed = false;
  };

  const LinkRegistryOptions options_;
  const Clock& clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Link> links_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::shared_ptr<AgentChannel>, absl::Time>> awaiting_hello_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::control::dispatch
