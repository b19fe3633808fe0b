#pragma once

// What agents report on their streams — answers to commands, sessions
// closed, tunnels up, byte counts — applied on the event workers, which
// requests cannot crowd out.
//
// Non-blocking: a report is queued and applied on an event worker, then its
// `applied` runs there. A stream hands over its next report only after the
// previous one is applied, so nothing is ever dropped and the queue holds at
// most one report per stream (a busy database slows the agents' streams
// down instead). False: the queue is full, nothing was done and `applied`
// will not run; the stream should end (its agent reconnects, and the
// reconcile settles what it carried).

#include <string>

#include "absl/functional/any_invocable.h"
#include "common/worker_pool.h"
#include "controlplane/dispatch/ack_waiters.h"
#include "controlplane/dispatch/outbox.h"
#include "controlplane/dispatch/usage_ledger.h"
#include "controlplane/store/attach_store.h"
#include "controlplane/store/command_store.h"
#include "controlplane/store/node_store.h"
#include "common/metrics.h"
#include "controlplane/model/usage.h"
#include "controlplane/store/session_store.h"

namespace warden::control::dispatch {

class AgentReports {
 public:
  using Applied = absl::AnyInvocable<void() &&>;

  AgentReports(store::CommandStore& commands, store::AttachStore& attach,
               store::SessionStore& sessions, Outbox& outbox, AckWaiters& waiters,
               UsageLedger& ledger, WorkerPool& event_workers, metrics::Registry& metrics);

  // The answer is recorded (a failed kill of a session still closing is
  // scheduled again, see kill_retry.h), and whoever waits for it here hears
  // it at once, from the answer itself.
  bool OnResult(const std::string& node_id, int64_t command_id, bool ok, std::string error,
                Applied applied);
  bool OnClosed(const store::NodeIdentity& node, store::ClosedReport closed, Applied applied);
  bool OnOpened(const std::string& node_id, std::string session_id, std::string session_key,
                std::string tunnel_address, Applied applied);
  // Counted by the usage ledger with the samples of other streams.
  bool OnUsage(model::UsageReport usage, Applied applied);

 private:
  void RecordResult(const std::string& node_id, int64_t command_id, bool ok,
                    const std::string& error);

  store::CommandStore& commands_;
  store::AttachStore& attach_;
  store::SessionStore& sessions_;
  Outbox& outbox_;
  AckWaiters& waiters_;
  UsageLedger& ledger_;
  WorkerPool& event_workers_;
  metrics::Family<metrics::Counter>& sessions_ended_;
};

}  // namespace warden::control::dispatch
