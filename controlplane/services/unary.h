#pragma once

// Callback-API unary handlers must not block: they hand their work to a
// worker pool, return, and the worker finishes the call.

#include <grpcpp/grpcpp.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/grpc_status.h"
#include "common/worker_pool.h"

namespace warden::control::services {

// The caller's deadline, capped: work never runs unbounded even for callers
// that set none.
inline absl::Time DeadlineOf(const grpc::CallbackServerContext* ctx, absl::Duration cap) {
  const absl::Time capped = absl::Now() + cap;
  const absl::Time asked = absl::FromChrono(ctx->deadline());
  return asked < capped ? asked : capped;
}

// Runs `work()` (returning absl::Status) on `pool` and finishes the call
// with its result. A full pool answers RESOURCE_EXHAUSTED at once.
template <typename Work>
grpc::ServerUnaryReactor* FinishOnPool(grpc::CallbackServerContext* ctx, WorkerPool& pool,
                                       Work work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const absl::Time deadline = absl::FromChrono(ctx->deadline());
  const bool queued = pool.TrySubmit([reactor, deadline, work = std::move(work)]() mutable {
    if (absl::Now() >= deadline) {
      reactor->Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                                   "the deadline passed while the call waited for a worker"));
      return;
    }
    reactor->Finish(ToGrpcStatus(work()));
  });
  if (!queued) reactor->Finish(ToGrpcStatus(OverloadedError()));
  return reactor;
}

}  // namespace warden::control::services
