#pragma once

// Wake-ups (NOTIFY) sent after a transaction commits, not inside it.
//
// A transaction that calls NOTIFY takes a database-wide lock at commit and
// holds it through the commit's WAL flush, so notifying transactions commit
// one at a time instead of sharing flushes. On the admission path that lock
// was where a quarter of the backends' active time went (bench/REPORT.md).
// Here the wake-ups of committed work are queued and sent from a connection
// of their own, in batches, by transactions that write nothing and so wait
// for no flush.
//
// A wake-up is a hint: what it announces is in the tables, and its reader
// finds it there without one (the dispatcher's sweep, a waiter's deadline).
// One lost to a crash between the commit and the send, or to a broken
// connection, costs latency, never correctness.

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace warden::control::store {

class WakeNotifier {
 public:
  explicit WakeNotifier(std::string connection_string, size_t max_queued = 100000);
  // Sends what is queued (one attempt), then stops.
  ~WakeNotifier();

  WakeNotifier(const WakeNotifier&) = delete;
  WakeNotifier& operator=(const WakeNotifier&) = delete;

  // Queues NOTIFY `channel`, `payload`; never blocks. Equal wake-ups queued
  // together are sent once. The sender starts on the first call.
  void Wake(std::string channel, std::string payload);

  // Wake-ups given up (queue full, or the database unreachable when sent).
  uint64_t dropped() const;

 private:
  using Entry = std::pair<std::string, std::string>;

  void Run();
  absl::Status Send(const absl::flat_hash_set<Entry>& batch);

  const std::string connection_string_;
  const size_t max_queued_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<Entry> queued_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread sender_ ABSL_GUARDED_BY(mu_);
  // Only the sender thread touches it.
  std::unique_ptr<pqxx::connection> connection_;
};

}  // namespace warden::control::store
