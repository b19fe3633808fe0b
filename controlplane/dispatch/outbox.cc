#include "controlplane/dispatch/outbox.h"

#include <algorithm>
#include <vector>

#include "common/logging.h"

namespace warden::control::dispatch {
namespace {

const logging::Logger Log("control.dispatch");

constexpr int kMaxCommandsPerDelivery = 1000;

// The `kind` label: the kind's name in the outbox.
absl::string_view KindLabel(model::CommandKind kind) {
  const std::string_view name = model::KindName(kind);
  return absl::string_view(name.data(), name.size());
}

}  // namespace

Outbox::Outbox(LinkRegistry& links, store::CommandStore& commands, WorkerPool& db_workers,
               const Clock& clock, metrics::Registry& metrics)
    : links_(links),
      commands_(commands),
      db_workers_(db_workers),
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
  for (const model::CommandKindEntry& entry : model::kCommandKinds) {
    const absl::string_view kind = KindLabel(entry.kind);
    sent_.With({kind});
    results_.With({kind, "acked"});
    results_.With({kind, "failed"});
    delivery_.With({kind});
  }
}

void Outbox::Wake(const std::string& node_id) {
  if (!links_.ClaimDelivery(node_id)) return;
  if (!db_workers_.TrySubmit([this, node_id] { Deliver(node_id); })) {
    links_.ReleaseDelivery(node_id);  // the sweep finds its commands
  }
}

void Outbox::SweepDue() {
  absl::StatusOr<std::vector<std::string>> due = commands_.NodesWithUndelivered();
  if (!due.ok()) {
    Log()->warn("cannot look for due commands: {}", due.status().message());
    return;
  }
  for (const std::string& node : *due) Wake(node);
}

void Outbox::Deliver(const std::string& node_id) {
  if (!links_.BeginDelivery(node_id)) return;
  absl::StatusOr<store::PendingCommands> pending =
      commands_.Pending(node_id, kMaxCommandsPerDelivery);
  if (!pending.ok()) {
    Log()->warn("cannot read commands for node_id={}: {}", node_id, pending.status().message());
    return;
  }
  for (const std::string& unreadable : pending->unreadable) {
    Log()->error("not delivered to node_id={}: {}", node_id, unreadable);
  }
  std::vector<const model::Command*> unsent;
  std::shared_ptr<AgentChannel> channel = links_.TakeUnsent(node_id, pending->commands, unsent);
  if (channel == nullptr) return;
  // Marked before they are sent: the agent may act and report the session
  // closed before a later mark would land, and a close settles only kills
  // that were never handed to an agent. Not sent after all (the stream is
  // ending) means sent again on the next attach, as for any unacknowledged one.
  std::vector<int64_t> ids;
  for (const model::Command* command : unsent) ids.push_back(command->id);
  if (absl::Status marked = commands_.MarkDelivered(ids); !marked.ok()) {
    Log()->warn("cannot mark commands delivered: {}", marked.message());
  }
  for (const model::Command* command : unsent) {
    if (!channel->Send(*command)) break;
    sent_.With({KindLabel(command->kind)}).Increment();
  }
}

void Outbox::Answered(const std::string& node_id, int64_t command_id, bool ok) {
  std::optional<InFlight> sent = links_.Answered(node_id, command_id);
  if (!sent) return;
  const absl::string_view kind = KindLabel(sent->kind);
  results_.With({kind, ok ? "acked" : "failed"}).Increment();
  delivery_.With({kind}).ObserveDuration(
      std::max(absl::ZeroDuration(), clock_.Now() - sent->due_at));
}

}  // namespace warden::control::dispatch
