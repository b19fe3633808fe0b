#pragma once

// The one way a unary RPC is served, for every service. A handler validates,
// calls one domain operation and converts; Unary does the rest, in this
// order:
//   1. on the reaction (never blocking): read the credential from the
//      metadata and cap the deadline;
//   2. hand the work to a worker pool; a full pool answers at once
//      (RESOURCE_EXHAUSTED, or UNAVAILABLE where the caller's own fail
//      mode should decide, see Rpc::when_full);
//   3. on the worker: DEADLINE_EXCEEDED if the call waited past its
//      deadline; authenticate (API key, node credential or a user's access
//      token) and check the role, before any other work (an unauthenticated
//      caller never makes the server hash a password);
//   4. run the work (the store may retry through a database failover
//      until shortly before the deadline, store/failover_retry.h), map its
//      absl::Status to gRPC (common/grpc_status.h)
//      and finish the call exactly once; a fault (INTERNAL, UNKNOWN,
//      DATA_LOSS) and a refused role are logged to the service's logger.

#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "common/worker_pool.h"
#include "controlplane/model/audit.h"
#include "controlplane/services/authenticator.h"
#include "controlplane/services/node_authenticator.h"
#include "controlplane/services/user_authenticator.h"
#include "controlplane/store/node_store.h"

namespace warden::control::services {

// Work that runs longer than this is cut off even if the caller set no
// deadline (or a later one).
inline constexpr absl::Duration kMaxCallDuration = absl::Seconds(30);

// Who may make a call, and how the caller proves it.
enum class Access {
  kAnyone,  // no credential in the metadata: the request carries its own (a ticket, a token)
  kNode,    // a node credential, and with --client-ca the node's certificate
  kRead,    // an API key of any role
  kWrite,   // an API key with the admin role
  kUser,    // a user's access token ("wat_..."); see Rpc::allow_disabled
};

// What a caller hears when the pool refuses the work.
enum class WhenFull {
  kResourceExhausted,  // "the server is overloaded; retry with backoff"
  // An agent's Admit: its fail-open/closed rule, not our backoff advice,
  // decides what an overloaded control plane means for a VPN login.
  kUnavailable,
};

struct Rpc {
  Access access = Access::kAnyone;
  WhenFull when_full = WhenFull::kResourceExhausted;
  // Access::kUser: a disabled user may make the call (it only reads or
  // ends things); otherwise PERMISSION_DENIED.
  bool allow_disabled = false;
};

// What the work of a call is given. `ctx` stays valid until the call is
// finished; trailing metadata is added before that.
struct UnaryCall {
  grpc::CallbackServerContext* ctx = nullptr;
  absl::Time deadline;
  Principal key;             // Access::kRead, kWrite
  store::NodeIdentity node;  // Access::kNode
  store::AccessGrant user{};  // Access::kUser
  // Who the audit log names: the API key, or "user:<username>".
  model::Actor actor() const {
    return model::Actor{user.username.empty() ? key.key_name : "user:" + user.username};
  }
};

// The caller's deadline, capped at `now + cap`.
absl::Time CappedDeadline(absl::Time asked, absl::Time now, absl::Duration cap = kMaxCallDuration);
// Whether an API key's role allows `access` (kRead or kWrite).
absl::Status CheckRole(Access access, const Principal& key);
// The status a refused submission answers with.
absl::Status PoolFull(WhenFull when_full);
// RESOURCE_EXHAUSTED for a call refused by a rate limit, `what` first in
// its message, with `retry-after` (whole seconds, rounded up, at least 1, as
// in HTTP) in the trailing metadata.
absl::Status RetryLater(grpc::CallbackServerContext* ctx, absl::Duration retry_after,
                        absl::string_view what);
// How long a call may wait for an agent's answer: its deadline, less a
// moment for our answer to reach the caller.
absl::Time AnswerDeadline(absl::Time call_deadline, absl::Time now);

class Unary {
 public:
  // `api_keys`, `nodes` and `users` may be null for a service with no such
  // callers; asking for that access then fails the call as an internal error.
  Unary(const logging::Logger& log, WorkerPool& pool, Authenticator* api_keys,
        NodeAuthenticator* nodes, const UserAuthenticator* users = nullptr)
      : log_(log), pool_(pool), api_keys_(api_keys), nodes_(nodes), users_(users) {}

  using Finisher = absl::AnyInvocable<void(absl::Status) &&>;
  using Work = absl::AnyInvocable<absl::Status(const UnaryCall&)>;
  // Work that finishes later (waiting for an agent, a password hash): it
  // calls its finisher exactly once, from any thread.
  using AsyncWork = absl::AnyInvocable<void(const UnaryCall&, Finisher)>;

  grpc::ServerUnaryReactor* Serve(grpc::CallbackServerContext* ctx, Rpc rpc, Work work);
  grpc::ServerUnaryReactor* ServeAsync(grpc::CallbackServerContext* ctx, Rpc rpc, AsyncWork work);
  // Finishes at once, without a worker: for what a handler refuses on the
  // reaction (a malformed request, a throttled login).
  grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* ctx, const absl::Status& status);

 private:
  // Step 3: the caller's identity, or why it has none.
  absl::Status Authenticate(Rpc rpc, const std::string& token,
                            const std::vector<std::string>& certificate_names, UnaryCall& call);

  // What the call ended with, for operators: faults and refused roles.
  void Log(grpc::CallbackServerContext* ctx, const absl::Status& status) const;

  const logging::Logger& log_;
  WorkerPool& pool_;
  Authenticator* const api_keys_;
  NodeAuthenticator* const nodes_;
  const UserAuthenticator* const users_;
};

}  // namespace warden::control::services
