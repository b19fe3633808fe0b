#include "controlplane/dispatch/agent_reports.h"

#include "common/logging.h"
#include "controlplane/dispatch/kill_retry.h"

namespace warden::control::dispatch {
namespace {

const logging::Logger Log("control.dispatch");

}  // namespace

AgentReports::AgentReports(store::CommandStore& commands, store::AttachStore& attach,
                           store::SessionStore& sessions, Outbox& outbox, AckWaiters& waiters,
                           UsageLedger& ledger, WorkerPool& event_workers,
                           metrics::Registry& metrics)
    : commands_(commands),
      attach_(attach),
      sessions_(sessions),
      outbox_(outbox),
      waiters_(waiters),
      ledger_(ledger),
      event_workers_(event_workers),
      sessions_ended_(metrics.AddCounter(
          "warden_sessions_ended_total",
          "Sessions whose end their node reported to this replica, by end reason (client, "
          "evicted, killed_by_admin, idle, ...; see the README).",
          {"reason"})) {}

bool AgentReports::OnResult(const std::string& node_id, int64_t command_id, bool ok,
                            std::string error, Applied applied) {
  // The command stays in flight until its answer is recorded: until then the
  // database still shows it due, and a delivery running meanwhile would send
  // it again at once (and, for a failed kill, its real retry would then find
  // it in flight and never go out).
  const bool queued =
      event_workers_.TrySubmit([this, node_id, command_id, ok, error = std::move(error),
                                applied = std::move(applied)]() mutable {
        RecordResult(node_id, command_id, ok, error);
        outbox_.Answered(node_id, command_id, ok);
        std::move(applied)();
      });
  if (!queued) outbox_.Answered(node_id, command_id, ok);  // unrecorded: sent again later
  return queued;
}

void AgentReports::RecordResult(const std::string& node_id, int64_t command_id, bool ok,
                                const std::string& error) {
  absl::StatusOr<store::Acknowledgement> recorded =
      commands_.Acknowledge(node_id, command_id, ok, error, KillRetryDelay);
  if (!recorded.ok()) {
    Log()->warn("cannot record result of command={}: {}", command_id, recorded.status().message());
    return;
  }
  // Not recorded: unknown to this node, or settled before (whoever settled
  // it told the waiters).
  if (!recorded->recorded) return;
  if (recorded->retry_in) {
    Log()->warn("kill command={} failed on node_id={}: {}; retrying in {}", command_id, node_id,
                error, absl::FormatDuration(*recorded->retry_in));
  }
  waiters_.Resolve(command_id, model::AnswerOutcome(ok, error, recorded->retry_in.has_value()));
}

bool AgentReports::OnClosed(const store::NodeIdentity& node, store::ClosedReport closed,
                            Applied applied) {
  return event_workers_.TrySubmit(
      [this, node, closed = std::move(closed), applied = std::move(applied)]() mutable {
        absl::StatusOr<store::SessionStore::CloseResult> result =
            sessions_.Close(node.id, node.name, closed.session_id, closed.session_key,
                            closed.reason.empty() ? "closed" : closed.reason, closed.usage,
                            closed.abandoned_attempt);
        if (!result.ok() && result.status().code() != absl::StatusCode::kNotFound) {
          // Not lost for good: a session the node no longer reports is
          // closed by the reconcile of its next attach.
          Log()->warn("cannot close session key={} node={}: {}", closed.session_key, node.name,
                      result.status().message());
        }
        if (result.ok() && !result->end_reason.empty())
          sessions_ended_.With({result->end_reason}).Increment();
        if (result.ok()) ledger_.Counted(std::move(result->ledger));
        std::move(applied)();
      });
}

bool AgentReports::OnOpened(const std::string& node_id, std::string session_id,
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

bool AgentReports::OnUsage(model::UsageReport usage, Applied applied) {
  return ledger_.Submit(std::move(usage), std::move(applied));
}

}  // namespace warden::control::dispatch
