#include "controlplane/dispatch/dispatcher.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace warden::control::dispatch {
namespace {

const logging::Logger Log("control.dispatch");

// Heartbeat rounds are split in at most this many slices, a tick apart.
constexpr int64_t kMaxHeartbeatSlices = 40;

void CloseSuperseded(const std::shared_ptr<AgentChannel>& channel) {
  if (channel) channel->Close(absl::AbortedError("superseded by a newer attach of this node"));
}

}  // namespace

Dispatcher::Dispatcher(DispatcherOptions options, DispatcherParts parts, const Clock& clock,
                       metrics::Registry& metrics)
    : options_(std::move(options)),
      links_(parts.links),
      outbox_(parts.outbox),
      waiters_(parts.waiters),
      commands_(parts.commands),
      command_store_(parts.command_store),
      attach_(parts.attach),
      devices_(parts.devices),
      db_workers_(parts.db_workers),
      clock_(clock),
      reports_(parts.command_store, parts.attach, parts.sessions, parts.outbox, parts.waiters,
               parts.ledger, parts.event_workers, metrics) {
  metrics::Gauge& streams =
      metrics
          .AddGauge("warden_agent_streams_connected",
                    "Agent streams attached to this replica (sum over replicas for the fleet).")
          .With({});
  metrics.OnScrape([this, &streams] { streams.Set(attached_count()); });
}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() {
  subscription_ = options_.listener->Subscribe(
      {"warden_commands", "warden_acks", "warden_attach"},
      [this](const std::string& channel, const std::string& payload) {
        OnNotification(channel, payload);
      },
      [this] { CatchUp(); });
  ticker_ = std::thread([this] { RunTicker(); });
}

void Dispatcher::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (ticker_.joinable()) ticker_.join();
  if (subscription_ != 0) options_.listener->Unsubscribe(std::exchange(subscription_, 0));
  DetachAll(absl::UnavailableError("the control plane is shutting down; reconnect"));
  waiters_.CancelAll(absl::UnavailableError("the control plane is shutting down"));
}

void Dispatcher::DetachAll(const absl::Status& why) {
  for (auto& channel : links_.TakeAll()) channel->Close(why);
}

void Dispatcher::AwaitHello(std::shared_ptr<AgentChannel> channel) {
  links_.AwaitHello(std::move(channel));
}

absl::StatusOr<AttachResult> Dispatcher::Attach(const store::NodeIdentity& node,
                                                AttachRequest request,
                                                std::shared_ptr<AgentChannel> channel) {
  links_.HelloHeard(channel.get());
  WARDEN_ASSIGN_OR_RETURN(store::Attachment attachment,
                          attach_.Attach(node.id, options_.replica_id, request.agent_version,
                                         request.drivers, request.wireguard_interfaces));
  // An older stream of this node held here ends now; on other replicas the
  // NOTIFY from the epoch update ends theirs.
  CloseSuperseded(links_.Fence(node.id, attachment.epoch));

  WARDEN_ASSIGN_OR_RETURN(
      store::ReconcileResult reconciled,
      commands_.Reconcile(node.id, attachment.node_name, attachment.epoch, request.inventory,
                          request.closed_while_away, options_.inventory_adopt_window,
                          [this](const model::AdmissionFacts& facts) {
                            return admission::Decide(facts, clock_.Now(), options_.decide_options);
                          }));

  // Read after the drivers were recorded: a device registered from now on
  // gets its own ADD_PEER to this node.
  const bool wireguard = std::find(request.drivers.begin(), request.drivers.end(), "wireguard") !=
                         request.drivers.end();
  WARDEN_ASSIGN_OR_RETURN(std::vector<model::WireGuardPeer> peers,
                          devices_.PeersForAttach(node.id, wireguard));

  WARDEN_ASSIGN_OR_RETURN(std::shared_ptr<AgentChannel> replaced,
                          links_.Register(node.id, attachment.epoch, channel));
  CloseSuperseded(replaced);
  Log()->info(
      "attached node={} epoch={} inventory={} adopted={} lost={} not_admissible={} kills={} "
      "peers={}",
      node.name, attachment.epoch, request.inventory.size(), reconciled.adopted.size(),
      reconciled.closed_as_lost, reconciled.not_admissible, reconciled.kills.size(), peers.size());
  return AttachResult{.epoch = attachment.epoch,
                      .node_name = attachment.node_name,
                      .draining = attachment.draining,
                      .reconcile = std::move(reconciled),
                      .wireguard_peers = std::move(peers)};
}

void Dispatcher::DeliverPending(const std::string& node_id) {
  if (links_.Welcome(node_id)) outbox_.Wake(node_id);
}

void Dispatcher::Detach(const std::string& node_id, const AgentChannel* channel) {
  links_.Detach(node_id, channel);
}

void Dispatcher::OnHeard(const std::string& node_id) { links_.Heard(node_id); }

void Dispatcher::ResolveFromStore(int64_t command_id) {
  absl::StatusOr<model::CommandOutcome> outcome = command_store_.Outcome(command_id);
  // Not answered after all (a NOTIFY for another reason): wait on.
  if (outcome.ok() && !outcome->acknowledged) return;
  waiters_.Resolve(command_id, outcome);
}

void Dispatcher::OnNotification(const std::string& channel, const std::string& payload) {
  if (channel == "warden_commands") {
    outbox_.Wake(payload);
    return;
  }
  if (channel == "warden_acks") {
    // An answer recorded here has resolved its waiters already; one
    // recorded on another replica, or a settlement, is read from the store.
    int64_t command_id = 0;
    if (!absl::SimpleAtoi(payload, &command_id) || !waiters_.Waiting(command_id)) return;
    (void)db_workers_.TrySubmit([this, command_id] { ResolveFromStore(command_id); });
    return;
  }
  if (channel == "warden_attach") {
    std::vector<std::string> parts = absl::StrSplit(payload, ':');
    int64_t epoch = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &epoch)) return;
    if (std::shared_ptr<AgentChannel> superseded = links_.Fence(parts[0], epoch)) {
      Log()->info("node_id={} attached elsewhere (epoch {}); closing this stream", parts[0], epoch);
      CloseSuperseded(superseded);
    }
  }
}

void Dispatcher::CatchUp() {
  for (const std::string& node : links_.Nodes()) outbox_.Wake(node);
  for (int64_t id : waiters_.Waited()) {
    (void)db_workers_.TrySubmit([this, id] { ResolveFromStore(id); });
  }
}

void Dispatcher::RunTicker() {
  // A slice of the links per tick or so: with thousands of agents, one
  // round at once wrote every stream and touched every node row together,
  // a burst that delayed the admissions and kills around it.
  const int slices = static_cast<int>(
      std::clamp<int64_t>(options_.heartbeat_interval / options_.tick, 1, kMaxHeartbeatSlices));
  const absl::Duration step = options_.heartbeat_interval / slices;
  absl::Time next_heartbeat = clock_.Now() + step;
  int slice = 0;
  while (!stop_.WaitForNotificationWithTimeout(options_.tick)) {
    Tick();
    if (clock_.Now() < next_heartbeat) continue;
    next_heartbeat = clock_.Now() + step;
    Heartbeat(slice, slices);
    slice = (slice + 1) % slices;
  }
}

void Dispatcher::Tick() {
  // Commands that fell due (grace periods, kill retries) or whose wake was
  // lost, and withheld peers that may go out again.
  if (links_.size() > 0) {
    Offload(sweeping_, [this] {
      outbox_.SweepDue();
      (void)commands_.ReprovisionWithheld(options_.reprovision_batch);
    });
  }
  waiters_.Expire(clock_.Now());
  for (auto& channel : links_.ExpireHellos()) {
    channel->Close(absl::DeadlineExceededError("the first message must be Hello, in time"));
  }
}

void Dispatcher::Heartbeat(int slice, int slices) {
  HeartbeatRound round = links_.Heartbeat(slice, slices);
  for (auto& channel : round.silent) {
    channel->Close(absl::UnavailableError("no heartbeat from the agent for three intervals"));
  }
  for (auto& channel : round.alive) channel->SendHeartbeat();
  {
    absl::MutexLock lock(&untouched_mu_);
    for (std::string& node : round.alive_nodes) untouched_.insert(std::move(node));
  }
  Offload(touching_, [this] {
    std::vector<std::string> nodes;
    {
      absl::MutexLock lock(&untouched_mu_);
      nodes.assign(untouched_.begin(), untouched_.end());
      untouched_.clear();
    }
    if (absl::Status touched = attach_.TouchNodes(nodes); !touched.ok()) {
      Log()->warn("cannot record heartbeats: {}", touched.message());
    }
  });
}

void Dispatcher::Offload(std::atomic<bool>& busy, absl::AnyInvocable<void() &&> work) {
  if (busy.exchange(true)) return;  // the last one is still at it
  const bool queued = db_workers_.TrySubmit([&busy, work = std::move(work)]() mutable {
    std::move(work)();
    busy.store(false);
  });
  if (!queued) busy.store(false);  // the next tick tries again
}

int Dispatcher::attached_count() const { return links_.size(); }

bool Dispatcher::IsAttached(const std::string& node_id) const { return links_.IsAttached(node_id); }

}  // namespace warden::control::dispatch
