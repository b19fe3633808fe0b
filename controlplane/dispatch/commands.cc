#include "controlplane/dispatch/commands.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "controlplane/usage/quota_rule.h"

namespace warden::control::dispatch {
namespace {

const logging::Logger Log("control.dispatch");

std::vector<store::QueuedCommand> Evictions(const store::AdmissionResult& admitted) {
  std::vector<store::QueuedCommand> kills;
  for (const store::Eviction& eviction : admitted.evictions) {
    kills.push_back({.command_id = eviction.command_id, .node_id = eviction.node_id});
  }
  return kills;
}

std::vector<store::QueuedCommand> QuotaCommands(const store::QuotaSettlement& settled) {
  return settled.commands;
}

// A drain or undrain is one command, for the node itself.
std::vector<store::QueuedCommand> ForNode(const model::Node& node) {
  return {{.node_id = node.id}};
}

}  // namespace

std::vector<std::string> NodesOf(std::span<const store::QueuedCommand> queued) {
  std::set<std::string> nodes;
  for (const store::QueuedCommand& command : queued) nodes.insert(command.node_id);
  return {nodes.begin(), nodes.end()};
}

Commands::Commands(store::CommandStore& commands, store::FamilyStore& families,
                   store::DeviceStore& devices, store::AttachStore& attach,
                   store::UsageStore& usage, admission::Admitter& admitter, Outbox& outbox,
                   AckWaiters& waiters)
    : commands_(commands),
      families_(families),
      devices_(devices),
      attach_(attach),
      usage_(usage),
      admitter_(admitter),
      outbox_(outbox),
      waiters_(waiters) {}

void Commands::Kick(std::span<const store::QueuedCommand> queued) {
  for (const std::string& node : NodesOf(queued)) outbox_.Wake(node);
}

template <typename T, typename QueuedOf>
absl::StatusOr<T> Commands::Committed(absl::StatusOr<T> value, QueuedOf queued_of) {
  if (value.ok()) Kick(queued_of(*value));
  return value;
}

void Commands::KillSession(const model::Actor& actor, KillRequest request, KillDone done) {
  if (request.force && !request.owner_user_id.empty()) {
    return std::move(done)(
        absl::InternalError("a forced close is an administrator's; it has no owner to scope to"));
  }
  if (request.force) {
    absl::StatusOr<std::string> closed =
        commands_.ForceClose(actor, request.session_id, absl::StrCat("forced: ", request.reason));
    if (!closed.ok()) return std::move(done)(closed.status());
    return std::move(done)(KillAnswer{.result = "closed by force; its node was not asked"});
  }
  absl::StatusOr<store::QueuedCommand> queued = Committed(
      commands_.KillSession(actor, request.session_id,
                            model::SessionEnd{request.end_code, request.reason},
                            request.owner_user_id),
      [](const store::QueuedCommand& kill) { return std::vector<store::QueuedCommand>{kill}; });
  if (!queued.ok()) return std::move(done)(queued.status());
  if (!request.wait_until) {
    return std::move(done)(KillAnswer{.command_id = queued->command_id, .result = {}});
  }
  AwaitAnswer(queued->command_id, *request.wait_until, std::move(done));
}

void Commands::AwaitAnswer(int64_t command_id, absl::Time deadline, KillDone done) {
  waiters_.Await(
      command_id, deadline,
      [command_id, done = std::move(done)](absl::StatusOr<model::CommandOutcome> outcome) mutable {
        if (!outcome.ok()) return std::move(done)(outcome.status());
        std::move(done)(KillAnswer{
            .command_id = command_id, .acknowledged = true, .result = std::move(outcome->result)});
      });
  // The answer may have come before the waiter was registered.
  absl::StatusOr<model::CommandOutcome> outcome = commands_.Outcome(command_id);
  if (!outcome.ok() || outcome->acknowledged) waiters_.Resolve(command_id, outcome);
}

absl::StatusOr<std::vector<store::QueuedCommand>> Commands::DisconnectUser(
    const model::Actor& actor, const std::string& user_id, const std::string& reason) {
  return Committed(commands_.DisconnectUser(actor, user_id, reason),
                   [](const std::vector<store::QueuedCommand>& kills) { return kills; });
}

absl::StatusOr<store::QuotaSettlement> Commands::SettleQuota(const std::string& user_id) {
  return Committed(usage_.SettleQuota(user_id, usage::JudgeQuota), QuotaCommands);
}

absl::StatusOr<store::QuotaSettlement> Commands::ResetUsage(const model::Actor& actor,
                                                            const std::string& user_id,
                                                            const std::string& reason) {
  return Committed(usage_.ResetUsage(actor, user_id, reason, usage::JudgeQuota), QuotaCommands);
}

absl::StatusOr<store::QuotaSettlement> Commands::GrantExtraQuota(const model::Actor& actor,
                                                                 const std::string& user_id,
                                                                 int64_t bytes,
                                                                 const std::string& reason) {
  return Committed(usage_.GrantExtraQuota(actor, user_id, bytes, reason, usage::JudgeQuota),
                   QuotaCommands);
}

absl::StatusOr<model::Node> Commands::DrainNode(const model::Actor& actor,
                                                const std::string& node_id, bool kill_sessions) {
  return Committed(commands_.DrainNode(actor, node_id, kill_sessions), ForNode);
}

absl::StatusOr<model::Node> Commands::UndrainNode(const model::Actor& actor,
                                                  const std::string& node_id) {
  return Committed(commands_.UndrainNode(actor, node_id), ForNode);
}

absl::StatusOr<store::FamilyRevocation> Commands::RevokeFamily(
    const model::Actor& actor, const std::string& family_id, const std::string& reason,
    bool kill_sessions, const std::string& action, const std::string& owner_user_id) {
  return Committed(families_.Revoke(actor, family_id, reason, kill_sessions, action, owner_user_id),
                   [](const store::FamilyRevocation& revoked) { return revoked.kills; });
}

absl::StatusOr<store::FamilyRevocation> Commands::RevokeUserFamilies(const model::Actor& actor,
                                                                     const std::string& user_id,
                                                                     const std::string& username,
                                                                     const std::string& reason) {
  return Committed(families_.RevokeAllOfUser(actor, user_id, username, reason),
                   [](const store::FamilyRevocation& revoked) { return revoked.kills; });
}

absl::StatusOr<store::RegisteredDevice> Commands::RegisterDevice(const model::Actor& actor,
                                                                 const store::NewDevice& device) {
  return Committed(devices_.Register(actor, device),
                   [](const store::RegisteredDevice& registered) { return registered.commands; });
}

absl::StatusOr<store::RevokedDevice> Commands::RevokeDevice(const model::Actor& actor,
                                                            const std::string& device_id,
                                                            const std::string& owner_user_id) {
  return Committed(devices_.Revoke(actor, device_id, owner_user_id),
                   [](const store::RevokedDevice& revoked) { return revoked.commands; });
}

void Commands::Admit(admission::AdmitInput input, absl::Time deadline,
                     admission::Admitter::Done done) {
  admitter_.Admit(
      std::move(input), deadline,
      [this, done = std::move(done)](absl::StatusOr<store::AdmissionResult> result) mutable {
        std::move(done)(Committed(std::move(result), Evictions));
      });
}

absl::StatusOr<store::ReconcileResult> Commands::Reconcile(
    const std::string& node_id, const std::string& node_name, int64_t epoch,
    std::span<const store::InventoryItem> inventory,
    std::span<const store::ClosedReport> closed_while_away, absl::Duration adopt_window,
    store::Decider decide) {
  // The node's own kills wait for its Welcome (the link is not welcomed
  // yet, so the wake passes it by); the others go now.
  return Committed(attach_.Reconcile(node_id, node_name, epoch, inventory, closed_while_away,
                                     adopt_window, decide),
                   [](const store::ReconcileResult& reconciled) { return reconciled.kills; });
}

absl::StatusOr<std::vector<store::QueuedCommand>> Commands::ReprovisionWithheld(int limit) {
  absl::StatusOr<std::vector<store::QueuedCommand>> queued =
      Committed(devices_.ReprovisionWithheld(limit),
                [](const std::vector<store::QueuedCommand>& peers) { return peers; });
  if (queued.ok() && !queued->empty()) {
    Log()->info("provisioning {} withheld peers again on {} nodes", queued->size(),
                NodesOf(*queued).size());
  }
  return queued;
}

}  // namespace warden::control::dispatch
