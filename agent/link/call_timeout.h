#pragma once

// A gRPC call's timeout as a span that gRPC measures on its own clock: the
// agent reads no wall clock for it (the injected Clock is for what the agent
// decides; a call's deadline is the transport's).

#include <grpc/support/time.h>
#include <grpcpp/grpcpp.h>

#include "absl/time/time.h"

namespace warden::agent {

inline void SetCallTimeout(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(gpr_time_from_millis(absl::ToInt64Milliseconds(timeout), GPR_TIMESPAN));
}

}  // namespace warden::agent
