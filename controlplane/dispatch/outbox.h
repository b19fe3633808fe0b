#pragma once

// Delivery of the outbox to the agents attached here. A wake queues one
// delivery for the node on a database worker (a wake while one is queued
// joins it); the delivery reads the node's due commands, marks them
// delivered and hands each to the stream once, until its answer comes.
//
// Woken by Commands when it commits (the only caller that follows a store
// call), by NOTIFY warden_commands for commits on other replicas, when a
// link's Welcome is out, and by SweepDue for commands that fell due (grace
// periods, kill retries) or whose wake was lost (a full pool drops a wake;
// the next sweep finds its commands). The command metrics live here.

#include <string>

#include "common/clock.h"
#include "common/metrics.h"
#include "common/worker_pool.h"
#include "controlplane/dispatch/link_registry.h"
#include "controlplane/store/command_store.h"

namespace warden::control::dispatch {

class Outbox {
 public:
  Outbox(LinkRegistry& links, store::CommandStore& commands, WorkerPool& db_workers,
         const Clock& clock, metrics::Registry& metrics);

  // Non-blocking: delivers what is due for the node, if it is attached here.
  void Wake(const std::string& node_id);
  // Blocking (database; call from a database worker): wakes every node here
  // with due commands never delivered.
  void SweepDue();
  // The agent's answer is recorded (or was lost): the command may be sent
  // again. Counted by kind and result, with the time from the command
  // falling due, if this link sent it.
  void Answered(const std::string& node_id, int64_t command_id, bool ok);

 private:
  void Deliver(const std::string& node_id);

  LinkRegistry& links_;
  store::CommandStore& commands_;
  WorkerPool& db_workers_;
  const Clock& clock_;

  // Commands by kind: handed to a stream; answered (acked or failed); and
  // the time from falling due to the agent's answer.
  metrics::Family<metrics::Counter>& sent_;
  metrics::Family<metrics::Counter>& results_;
  metrics::Family<metrics::Histogram>& delivery_;
};

}  // namespace warden::control::dispatch
