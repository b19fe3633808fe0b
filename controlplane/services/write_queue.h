#pragma once

// The writing half of a streaming reactor: gRPC allows one write in flight,
// so messages queue (up to a bound) and go out in order. A stream is finished
// exactly once, after the write on the wire completes. While work for the
// stream runs elsewhere (a database worker), a "hold" defers the finish, so
// the reactor is not destroyed under that work.
//
// Optionally the queue is bounded in bytes too (`size_of` measures a
// message): a stream whose reader falls that far behind is ended, however
// small its messages, instead of being buffered without bound. A reader
// that far behind may take nothing more, its status included (it would
// queue behind the write that does not complete): `on_overflow` runs, after
// the lock, so that the owner can cancel the call.
//
// Finishing lets gRPC destroy the reactor, and with it this queue, at once
// on another thread: the finish callback is therefore always the last thing
// a method does, after the lock is released.

#include <grpcpp/support/status.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace warden::control::services {

template <typename Message>
class WriteQueue {
 public:
  WriteQueue(size_t max_queued, std::string overflow_message,
             std::function<void(const Message*)> start_write,
             std::function<void(const grpc::Status&)> finish, size_t max_queued_bytes = 0,
             std::function<size_t(const Message&)> size_of = nullptr,
             std::function<void()> on_overflow = nullptr)
      : max_queued_(max_queued),
        overflow_message_(std::move(overflow_message)),
        start_write_(std::move(start_write)),
        finish_(std::move(finish)),
        max_queued_bytes_(size_of ? max_queued_bytes : 0),
        size_of_(std::move(size_of)),
        on_overflow_(std::move(on_overflow)) {}

  // False when the stream is ending, or the queue overflowed (it then ends
  // with RESOURCE_EXHAUSTED).
  bool Enqueue(Message message) {
    Finisher finish;
    {
      absl::MutexLock lock(&mu_);
      if (Ending()) return false;
      const size_t bytes = max_queued_bytes_ > 0 ? size_of_(message) : 0;
      if (outbox_.size() < max_queued_ &&
          (max_queued_bytes_ == 0 || queued_bytes_ + bytes <= max_queued_bytes_)) {
        queued_bytes_ += bytes;
        outbox_.push_back(std::move(message));
        if (!writing_) {
          writing_ = true;
          start_write_(&outbox_.front());
        }
        return true;
      }
      finish = FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, overflow_message_));
    }
    if (on_overflow_) on_overflow_();
    finish.Run();
    return false;
  }

  // From the reactor's OnWriteDone.
  void WriteDone(bool ok) {
    Finisher finish;
    {
      absl::MutexLock lock(&mu_);
      PopFront();
      if (!ok) {
        outbox_.clear();
        queued_bytes_ = 0;
      }  // broken stream; the read side or a cancel finishes it
      if (!outbox_.empty()) {
        start_write_(&outbox_.front());
        return;
      }
      writing_ = false;
      if (!finish_after_write_ || finished_) return;
      // A hold taken since the finish was asked for (the reader handed a
      // message to a worker meanwhile) defers it again: finishing now would
      // destroy the reactor under that work.
      if (holds_ > 0) {
        if (!finish_after_hold_) finish_after_hold_ = *finish_after_write_;
        return;
      }
      finished_ = true;
      finish = Finisher{finish_, *finish_after_write_};
    }
    finish.Run();
  }

  void FinishOnce(const grpc::Status& status) {
    Finisher finish;
    {
      absl::MutexLock lock(&mu_);
      finish = FinishLocked(status);
    }
    finish.Run();
  }

  // Keeps the reactor alive for work done elsewhere; each true is matched by
  // one Release. False when the stream is finished already: gRPC may destroy
  // the reactor as soon as the reaction at hand returns, so no work that
  // touches it may start, and there is nothing to release.
  bool Hold() {
    absl::MutexLock lock(&mu_);
    if (finished_) return false;
    ++holds_;
    return true;
  }

  // Ends a hold; a finish requested meanwhile happens now. False when the
  // stream is ending: the caller should not start more work on it.
  bool Release() {
    Finisher finish;
    {
      absl::MutexLock lock(&mu_);
      if (--holds_ > 0 || !finish_after_hold_) return !Ending();
      finish = FinishLocked(*finish_after_hold_);
    }
    finish.Run();
    return false;
  }

 private:
  // A finish decided under the lock, run after it (see the top of the file).
  struct Finisher {
    std::function<void(const grpc::Status&)> finish;
    grpc::Status status;
    void Run() {
      if (finish) finish(status);
    }
  };

  void PopFront() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (max_queued_bytes_ > 0) queued_bytes_ -= std::min(queued_bytes_, size_of_(outbox_.front()));
    outbox_.pop_front();
  }

  bool Ending() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return finished_ || finish_after_write_.has_value() || finish_after_hold_.has_value();
  }

  [[nodiscard]] Finisher FinishLocked(const grpc::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || (finish_after_write_ && writing_)) return {};
    if (holds_ > 0) {
      if (!finish_after_hold_) finish_after_hold_ = status;
      return {};
    }
    if (writing_) {
      while (outbox_.size() > 1) outbox_.pop_back();  // only the message on the wire completes
      finish_after_write_ = status;
      return {};
    }
    finished_ = true;
    return Finisher{finish_, status};
  }

  const size_t max_queued_;
  const std::string overflow_message_;
  const std::function<void(const Message*)> start_write_;
  const std::function<void(const grpc::Status&)> finish_;
  absl::Mutex mu_;
  const size_t max_queued_bytes_;
  const std::function<size_t(const Message&)> size_of_;
  const std::function<void()> on_overflow_;
  std::deque<Message> outbox_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  int holds_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<grpc::Status> finish_after_write_ ABSL_GUARDED_BY(mu_);
  std::optional<grpc::Status> finish_after_hold_ ABSL_GUARDED_BY(mu_);
};

// A handle on a stream's write queue for code that outlives the stream (a
// dispatcher, a hub): once the stream is done and has detached it, calls on
// it do nothing.
template <typename Message>
class WriteQueueHandle {
 public:
  explicit WriteQueueHandle(WriteQueue<Message>* queue) : queue_(queue) {}

  bool Enqueue(Message message) {
    absl::MutexLock lock(&mu_);
    return queue_ != nullptr && queue_->Enqueue(std::move(message));
  }
  void FinishOnce(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    if (queue_ != nullptr) queue_->FinishOnce(status);
  }
  // From the stream's OnDone.
  void Detach() {
    absl::MutexLock lock(&mu_);
    queue_ = nullptr;
  }

 private:
  absl::Mutex mu_;
  WriteQueue<Message>* queue_ ABSL_GUARDED_BY(mu_);
};

}  // namespace warden::control::services
