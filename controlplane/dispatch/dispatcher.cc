#include "controlplane/dispatch/dispatcher.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/logging.h"
#include "controlplane/admission/decide.h"
#include "controlplane/dispatch/kill_retry.h"

namespace warden::control::dispatch {
namespace {

const std::shared_ptr<spdlog::logger>& Log() {
  static const auto log = logging::Get("control.dispatch");
  return log;
}

constexpr int kMaxCommandsPerDelivery = 1000;

}  // namespace

Dispatcher::Dispatcher(DispatcherOptions options, store::CommandStore& commands,
                       store::AttachStore& attach, store::SessionStore& sessions,
                       store::DeviceStore& devices, WorkerPool& db_workers,
                       WorkerPool& event_workers, const Clock& clock, metrics::Registry& metrics)
    : options_(std::move(options)),
      commands_(commands),
      attach_(attach),
      sessions_(sessions),
      devices_(devices),
      db_workers_(db_workers),
      event_workers_(event_workers),
      clock_(clock),
      sent_(metrics.AddCounter("warden_commands_sent_total",
                               "Commands handed to an agent stream, by kind (kill_session, "
                               "set_bandwidth, drain, add_peer, remove_peer).",
                               {"kind"})),
      results_(metrics.AddCounter("warden_command_results_total",
                                  "Agent answers to commands, by kind and result (acked, failed).",
                                  {"kind", "result"})),
      delivery_(metrics.AddHistogram(
          "warden_command_delivery_seconds",
          "Time from a command falling due to its agent's answer, by kind.", {"kind"})) {
  for (model::CommandKind kind : {model::CommandKind::kKillSession,
                                  model::CommandKind::kSetBandwidth, model::CommandKind::kDrain,
                                  model::CommandKind::kAddPeer, model::CommandKind::kRemovePeer}) {
    const absl::string_view name = store::CommandKindName(kind);
    sent_.With({name});
    results_.With({name, "acked"});
    results_.With({name, "failed"});
    delivery_.With({name});
  }
  metrics::Gauge& streams =
      metrics
          .AddGauge("warden_agent_streams_connected",
                    "Agent streams attached to this replica (sum over replicas for the fleet).")
          .With({});
  metrics.OnScrape([this, &streams] { streams.Set(attached_count()); });
}

Dispatcher::~Dispatcher() { Stop(); }

void Dispatcher::Start() {
  listener_ = std::make_unique<store::NotificationListener>(
      options_.listen_connection_string,
      std::vector<std::string>{"warden_commands", "warden_acks", "warden_attach"},
      [this](const std::string& channel, const std::string& payload) {
        OnNotification(channel, payload);
      },
      [this] { CatchUp(); });
  listener_->Start();
  ticker_ = std::thread([this] { RunTicker(); });
}

void Dispatcher::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (ticker_.joinable()) ticker_.join();
  if (listener_) listener_->Stop();
  std::vector<std::shared_ptr<AgentChannel>> channels;
  std::map<int64_t, std::vector<Waiter>> waiters;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [node, link] : links_) channels.push_back(link.channel);
    for (auto& [channel, since] : awaiting_hello_) channels.push_back(channel);
    links_.clear();
    awaiting_hello_.clear();
    waiters.swap(waiters_);
  }
  for (auto& channel : channels) {
    channel->Close(absl::UnavailableError("the control plane is shutting down; reconnect"));
  }
  for (auto& [id, list] : waiters) {
    for (Waiter& waiter : list) {
      std::move(waiter.done)(absl::UnavailableError("the control plane is shutting down"));
    }
  }
}

void Dispatcher::AwaitHello(std::shared_ptr<AgentChannel> channel) {
  absl::MutexLock lock(&mu_);
  awaiting_hello_.emplace_back(std::move(channel), clock_.Now());
}

absl::StatusOr<AttachResult> Dispatcher::Attach(const store::NodeIdentity& node,
                                                AttachRequest request,
                                                std::shared_ptr<AgentChannel> channel) {
  {
    absl::MutexLock lock(&mu_);
    std::erase_if(awaiting_hello_, [&](const auto& entry) { return entry.first == channel; });
  }
  absl::StatusOr<store::Attachment> attachment =
      attach_.Attach(node.id, options_.replica_id, request.agent_version, request.drivers);
  if (!attachment.ok()) return attachment.status();

  // An older stream of this node held here ends now; on other replicas the
  // NOTIFY from the epoch update ends theirs.
  std::shared_ptr<AgentChannel> superseded;
  {
    absl::MutexLock lock(&mu_);
    auto it = links_.find(node.id);
    if (it != links_.end() && it->second.epoch < attachment->epoch) {
      superseded = std::move(it->second.channel);
      links_.erase(it);
    }
  }
  if (superseded)
    superseded->Close(absl::AbortedError("superseded by a newer attach of this node"));

  absl::StatusOr<store::ReconcileResult> reconciled =
      attach_.Reconcile(node.id, attachment->node_name, attachment->epoch, request.inventory,
                        request.closed_while_away, options_.inventory_adopt_window,
                        [this](const model::AdmissionFacts& facts) {
                          return admission::Decide(facts, clock_.Now(), options_.decide_options);
                        });
  if (!reconciled.ok()) return reconciled.status();

  // Read after the drivers were recorded: a device registered from now on
  // gets its own ADD_PEER to this node.
  const bool wireguard = std::find(request.drivers.begin(), request.drivers.end(), "wireguard") !=
                         request.drivers.end();
  absl::StatusOr<std::vector<model::WireGuardPeer>> peers =
      devices_.PeersForAttach(node.id, wireguard);
  if (!peers.ok()) return peers.status();

  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = links_.try_emplace(node.id);
    if (!inserted && it->second.epoch > attachment->epoch) {
      return absl::AbortedError("superseded by a newer attach of this node");
    }
    if (!inserted && it->second.channel != channel) superseded = std::move(it->second.channel);
    it->second = Link();
    it->second.channel = channel;
    it->second.epoch = attachment->epoch;
    it->second.last_heard = clock_.Now();
  }
  if (superseded)
    superseded->Close(absl::AbortedError("superseded by a newer attach of this node"));
  for (const store::QueuedCommand& kill : reconciled->kills) {
    if (kill.node_id != node.id) Kick(kill.node_id);
  }
  Log()->info(
      "attached node={} epoch={} inventory={} adopted={} lost={} not_admissible={} kills={} "
      "peers={}",
      node.name, attachment->epoch, request.inventory.size(), reconciled->adopted.size(),
      reconciled->closed_as_lost, reconciled->not_admissible, reconciled->kills.size(),
      peers->size());
  return AttachResult{.epoch = attachment->epoch,
                      .node_name = attachment->node_name,
                      .draining = attachment->draining,
                      .reconcile = *std::move(reconciled),
                      .wireguard_peers = *std::move(peers)};
}

void Dispatcher::DeliverPending(const std::string& node_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = links_.find(node_id);
    if (it == links_.end()) return;
    it->second.welcomed = true;
  }
  ScheduleDelivery(node_id);
}

void Dispatcher::Detach(const std::string& node_id, const AgentChannel* channel) {
  absl::MutexLock lock(&mu_);
  std::erase_if(awaiting_hello_, [&](const auto& entry) { return entry.first.get() == channel; });
  auto it = links_.find(node_id);
  if (it != links_.end() && it->second.channel.get() == channel) links_.erase(it);
}

void Dispatcher::Kick(const std::string& node_id) { ScheduleDelivery(node_id); }

void Dispatcher::ScheduleDelivery(const std::string& node_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = links_.find(node_id);
    if (it == links_.end() || !it->second.welcomed || it->second.delivery_scheduled) return;
    it->second.delivery_scheduled = true;
  }
  if (!db_workers_.TrySubmit([this, node_id] { Deliver(node_id); })) {
    absl::MutexLock lock(&mu_);
    auto it = links_.find(node_id);
    if (it != links_.end()) it->second.delivery_scheduled = false;  // the tick retries
  }
}

void Dispatcher::Deliver(const std::string& node_id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = links_.find(node_id);
    if (it == links_.end()) return;
    it->second.delivery_scheduled = false;
  }
  absl::StatusOr<std::vector<model::Command>> pending =
      commands_.Pending(node_id, kMaxCommandsPerDelivery);
  if (!pending.ok()) {
    Log()->warn("cannot read commands for node_id={}: {}", node_id, pending.status().message());
    return;
  }
  std::shared_ptr<AgentChannel> channel;
  std::vector<const model::Command*> to_send;
  {
    absl::MutexLock lock(&mu_);
    auto it = links_.find(node_id);
    if (it == links_.end()) return;
    channel = it->second.channel;
    for (const model::Command& command : *pending) {
      if (it->second.in_flight
              .try_emplace(command.id, InFlight{.kind = command.kind, .due_at = command.due_at})
              .second) {
        to_send.push_back(&command);
      }
    }
  }
  // Marked before they are sent: the agent may act and report the session
  // closed before a later mark would land, and a close settles only kills
  // that were never handed to an agent. Not sent after all (the stream is
  // ending) means sent again on the next attach, as for any unacknowledged one.
  std::vector<int64_t> ids;
  for (const model::Command* command : to_send) ids.push_back(command->id);
  if (absl::Status marked = commands_.MarkDelivered(ids); !marked.ok()) {
    Log()->warn("cannot mark commands delivered: {}", marked.message());
  }
  for (const model::Command* command : to_send) {
    if (!channel->Send(*command)) break;
    sent_.With({store::CommandKindName(command->kind)}).Increment();
  }
}

bool Dispatcher::OnResult(const std::string& node_id, int64_t command_id, bool ok,
                          std::string error, Applied applied) {
  {
    absl::MutexLock lock(&mu_);
    auto it = links_.find(node_id);
    if (it != links_.end()) {
      auto sent = it->second.in_flight.find(command_id);
      if (sent != it->second.in_flight.end()) {
        const absl::string_view kind = store::CommandKindName(sent->second.kind);
        results_.With({kind, ok ? "acked" : "failed"}).Increment();
        delivery_.With({kind}).ObserveDuration(
            std::max(absl::ZeroDuration(), clock_.Now() - sent->second.due_at));
      }
    }
  }
  // The command stays in flight until its answer is recorded: until then the
  // database still shows it due, and a delivery running meanwhile would send
  // it again at once (and, for a failed kill, its real retry would then find
  // it in flight and never go out).
  const bool queued = event_workers_.TrySubmit([this, node_id, command_id, ok,
                                                error = std::move(error),
                                                applied = std::move(applied)]() mutable {
    absl::StatusOr<store::Acknowledgement> recorded =
        commands_.Acknowledge(node_id, command_id, ok, error, KillRetryDelay);
    if (!recorded.ok()) {
      Log()->warn("cannot record result of command={}: {}", command_id,
                  recorded.status().message());
    } else if (recorded->retry_in) {
      Log()->warn("kill command={} failed on node_id={}: {}; retrying in {}", command_id, node_id,
                  error, absl::FormatDuration(*recorded->retry_in));
    }
    SettleInFlight(node_id, command_id);
    if (recorded.ok()) ResolveWaiters(command_id);
    std::move(applied)();
  });
  if (!queued) SettleInFlight(node_id, command_id);  // unanswered: sent again later
  return queued;
}

void Dispatcher::SettleInFlight(const std::string& node_id, int64_t command_id) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(node_id);
  if (it != links_.end()) it->second.in_flight.erase(command_id);
}

bool Dispatcher::OnClosed(const store::NodeIdentity& node, store::ClosedReport closed,
                          Applied applied) {
  return event_workers_.TrySubmit(
      [this, node, closed = std::move(closed), applied = std::move(applied)]() mutable {
        absl::StatusOr<store::SessionStore::CloseResult> result =
            sessions_.Close(node.id, node.name, closed.session_id, closed.session_key,
                            closed.reason.empty() ? "closed" : closed.reason, closed.rx_bytes,
                            closed.tx_bytes, closed.abandoned_attempt);
        if (!result.ok() && result.status().code() != absl::StatusCode::kNotFound) {
          // Not lost for good: a session the node no longer reports is
          // closed by the reconcile of its next attach.
          Log()->warn("cannot close session key={} node={}: {}", closed.session_key, node.name,
                      result.status().message());
        }
        std::move(applied)();
      });
}

bool Dispatcher::OnOpened(const std::string& node_id, std::string session_id,
                          std::string session_key, std::string tunnel_address, Applied applied) {
  if (tunnel_address.empty()) {  // Admit recorded everything else
    std::move(applied)();
    return true;
  }
  return event_workers_.TrySubmit([this, node_id, session_id = std::move(session_id),
                                   session_key = std::move(session_key),
                                   tunnel_address = std::move(tunnel_address),
                                   applied = std::move(applied)]() mutable {
    if (absl::Status recorded =
            attach_.RecordOpened(node_id, session_id, session_key, tunnel_address);
        !recorded.ok()) {
      Log()->warn("cannot record tunnel address of key={}: {}", session_key, recorded.message());
    }
    std::move(applied)();
  });
}

bool Dispatcher::OnUsage(const std::string& node_id, std::string session_id,
                         std::string session_key, int64_t rx_bytes, int64_t tx_bytes,
                         Applied applied) {
  return event_workers_.TrySubmit([this, node_id, session_id = std::move(session_id),
                                   session_key = std::move(session_key), rx_bytes, tx_bytes,
                                   applied = std::move(applied)]() mutable {
    (void)attach_.RecordUsage(node_id, session_id, session_key, rx_bytes, tx_bytes);
    std::move(applied)();
  });
}

void Dispatcher::OnHeard(const std::string& node_id) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find(node_id);
  if (it != links_.end()) it->second.last_heard = clock_.Now();
}

void Dispatcher::AwaitOutcome(int64_t command_id, absl::Time deadline, OutcomeDone done) {
  {
    absl::MutexLock lock(&mu_);
    waiters_[command_id].push_back(Waiter{.deadline = deadline, .done = std::move(done)});
  }
  // The acknowledgement may have come before the waiter was registered.
  absl::StatusOr<model::CommandOutcome> outcome = commands_.Outcome(command_id);
  if (!outcome.ok() || outcome->acknowledged) ResolveWaiters(command_id);
}

void Dispatcher::ResolveWaiters(int64_t command_id) {
  std::vector<Waiter> waiting;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(command_id);
    if (it == waiters_.end()) return;
    waiting.swap(it->second);
    waiters_.erase(it);
  }
  absl::StatusOr<model::CommandOutcome> outcome = commands_.Outcome(command_id);
  if (outcome.ok() && !outcome->acknowledged) {
    // Not settled after all (a NOTIFY for another reason): wait on.
    absl::MutexLock lock(&mu_);
    auto& list = waiters_[command_id];
    for (Waiter& waiter : waiting) list.push_back(std::move(waiter));
    return;
  }
  for (Waiter& waiter : waiting) std::move(waiter.done)(outcome);
}

void Dispatcher::OnNotification(const std::string& channel, const std::string& payload) {
  if (channel == "warden_commands") {
    ScheduleDelivery(payload);
    return;
  }
  if (channel == "warden_acks") {
    int64_t command_id = 0;
    if (!absl::SimpleAtoi(payload, &command_id)) return;
    bool waited_for;
    {
      absl::MutexLock lock(&mu_);
      waited_for = waiters_.count(command_id) > 0;
    }
    if (waited_for) (void)db_workers_.TrySubmit([this, command_id] { ResolveWaiters(command_id); });
    return;
  }
  if (channel == "warden_attach") {
    std::vector<std::string> parts = absl::StrSplit(payload, ':');
    int64_t epoch = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &epoch)) return;
    std::shared_ptr<AgentChannel> superseded;
    {
      absl::MutexLock lock(&mu_);
      auto it = links_.find(parts[0]);
      if (it != links_.end() && it->second.epoch < epoch) {
        superseded = std::move(it->second.channel);
        links_.erase(it);
      }
    }
    if (superseded) {
      Log()->info("node_id={} attached elsewhere (epoch {}); closing this stream", parts[0], epoch);
      superseded->Close(absl::AbortedError("superseded by a newer attach of this node"));
    }
  }
}

void Dispatcher::CatchUp() {
  std::vector<std::string> nodes;
  std::vector<int64_t> waited;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [node, link] : links_) nodes.push_back(node);
    for (const auto& [id, list] : waiters_) waited.push_back(id);
  }
  for (const std::string& node : nodes) ScheduleDelivery(node);
  for (int64_t id : waited) {
    (void)db_workers_.TrySubmit([this, id] { ResolveWaiters(id); });
  }
}

void Dispatcher::RunTicker() {
  absl::Time next_heartbeat = clock_.Now() + options_.heartbeat_interval;
  while (!stop_.WaitForNotificationWithTimeout(options_.tick)) {
    Tick();
    if (clock_.Now() < next_heartbeat) continue;
    next_heartbeat = clock_.Now() + options_.heartbeat_interval;
    const absl::Time silent_since = clock_.Now() - 3 * options_.heartbeat_interval;
    std::vector<std::shared_ptr<AgentChannel>> alive, silent;
    std::vector<std::string> heard;
    {
      absl::MutexLock lock(&mu_);
      for (auto it = links_.begin(); it != links_.end();) {
        if (it->second.last_heard < silent_since) {
          silent.push_back(std::move(it->second.channel));
          links_.erase(it++);
          continue;
        }
        alive.push_back(it->second.channel);
        heard.push_back(it->first);
        ++it;
      }
    }
    for (auto& channel : silent) {
      channel->Close(absl::UnavailableError("no heartbeat from the agent for three intervals"));
    }
    for (auto& channel : alive) channel->SendHeartbeat();
    if (absl::Status touched = attach_.TouchNodes(heard); !touched.ok()) {
      Log()->warn("cannot record heartbeats: {}", touched.message());
    }
  }
}

void Dispatcher::Tick() {
  // Commands that fell due (grace periods), or whose NOTIFY was missed.
  if (attached_count() > 0) {
    absl::StatusOr<std::vector<std::string>> due = commands_.NodesWithUndelivered();
    if (due.ok()) {
      for (const std::string& node : *due) ScheduleDelivery(node);
    }
    Reprovision();
  }
  const absl::Time now = clock_.Now();
  std::vector<Waiter> expired;
  std::vector<int64_t> expired_ids;
  std::vector<std::shared_ptr<AgentChannel>> mute;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      auto& list = it->second;
      for (auto w = list.begin(); w != list.end();) {
        if (w->deadline <= now) {
          expired.push_back(std::move(*w));
          expired_ids.push_back(it->first);
          w = list.erase(w);
        } else {
          ++w;
        }
      }
      it = list.empty() ? waiters_.erase(it) : std::next(it);
    }
    std::erase_if(awaiting_hello_, [&](auto& entry) {
      if (entry.second + options_.hello_timeout > now) return false;
      mute.push_back(std::move(entry.first));
      return true;
    });
  }
  for (size_t i = 0; i < expired.size(); ++i) {
    std::move(expired[i].done)(absl::DeadlineExceededError(absl::StrCat(
        "command ", expired_ids[i], " is still pending: its agent has not acknowledged it yet")));
  }
  for (auto& channel : mute) {
    channel->Close(absl::DeadlineExceededError("the first message must be Hello, in time"));
  }
}

void Dispatcher::Reprovision() {
  absl::StatusOr<std::vector<store::QueuedCommand>> queued =
      devices_.ReprovisionWithheld(options_.reprovision_batch);
  if (!queued.ok()) {
    Log()->warn("cannot provision withheld peers: {}", queued.status().message());
    return;
  }
  std::set<std::string> nodes;
  for (const store::QueuedCommand& command : *queued) nodes.insert(command.node_id);
  if (!queued->empty()) {
    Log()->info("provisioning {} withheld peers again on {} nodes", queued->size(), nodes.size());
  }
  // The NOTIFY reaches the replicas holding the other nodes.
  for (const std::string& node : nodes) ScheduleDelivery(node);
}

int Dispatcher::attached_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(links_.size());
}

bool Dispatcher::IsAttached(const std::string& node_id) const {
  absl::MutexLock lock(&mu_);
  return links_.count(node_id) > 0;
}

}  // namespace warden::control::dispatch
