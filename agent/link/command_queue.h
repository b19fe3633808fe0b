#pragma once

// The commands of one Attach stream between the thread that reads them and
// the thread that carries them out, bounded.
//
// A command holds its place from when it is read until its result has been
// written back (Answered), so the bound covers the commands waiting, the one
// running and the results not yet sent. When every place is taken, Push
// waits: the link stops reading the stream, gRPC flow control holds the
// control plane's sends back, and what it has not sent waits in its outbox.
// Nothing is dropped. (Ending the stream instead would make the control
// plane send the whole backlog again at the next attach, which a slow driver
// would overflow again, and again.)
//
// Close wakes every waiter for good: the stream is over; commands not yet
// answered are sent again at the next attach (they are at-least-once and
// idempotent on the agent).
//
// Thread-safe. Owned by the stream; lives as long as its threads.

#include <cstddef>
#include <deque>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "warden/v1/agent.pb.h"

namespace warden::agent {

class CommandQueue {
 public:
  explicit CommandQueue(size_t capacity);

  // The reader: waits while `capacity` commands are unanswered. False once
  // closed (the command is not queued).
  bool Push(v1::Command command);
  // The executor: the oldest command, waiting for one; nullopt once closed.
  std::optional<v1::Command> Next();
  // The writer, once the result of a command has gone out: frees its place.
  void Answered();
  void Close();

  // Whether the reader is (or would be) held back.
  bool full() const;
  size_t unanswered() const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<v1::Command> waiting_ ABSL_GUARDED_BY(mu_);
  size_t unanswered_ ABSL_GUARDED_BY(mu_) = 0;  // waiting, running, or result not yet sent
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace warden::agent
