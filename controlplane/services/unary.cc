#include "controlplane/services/unary.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "controlplane/store/failover_retry.h"

namespace warden::control::services {

absl::Time CappedDeadline(absl::Time asked, absl::Time now, absl::Duration cap) {
  return std::min(asked, now + cap);
}

absl::Status CheckRole(Access access, const Principal& key) {
  if (access == Access::kWrite && key.role != model::Role::kAdmin) {
    return absl::PermissionDeniedError(
        absl::StrCat("API key \"", key.key_name, "\" has the viewer role and may only read"));
  }
  return absl::OkStatus();
}

absl::Status PoolFull(WhenFull when_full) {
  switch (when_full) {
    case WhenFull::kResourceExhausted:
      return OverloadedError();
    case WhenFull::kUnavailable:
      return absl::UnavailableError("the control plane is overloaded; retry with backoff");
  }
  return absl::InternalError("unknown overload answer");
}

absl::Status RetryLater(grpc::CallbackServerContext* ctx, absl::Duration retry_after,
                        absl::string_view what) {
  const int64_t seconds =
      std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(retry_after, absl::Seconds(1))));
  ctx->AddTrailingMetadata("retry-after", std::to_string(seconds));
  return absl::ResourceExhaustedError(
      absl::StrCat(what, "; retry after ", seconds, seconds == 1 ? " second" : " seconds"));
}

absl::Time AnswerDeadline(absl::Time call_deadline, absl::Time now) {
  const absl::Duration left = call_deadline - now;
  return call_deadline - std::min(absl::Milliseconds(500), left / 4);
}

grpc::ServerUnaryReactor* Unary::Serve(grpc::CallbackServerContext* ctx, Rpc rpc, Work work) {
  return ServeAsync(ctx, rpc,
                    [work = std::move(work)](const UnaryCall& call, Finisher finish) mutable {
                      std::move(finish)(work(call));
                    });
}

grpc::ServerUnaryReactor* Unary::ServeAsync(grpc::CallbackServerContext* ctx, Rpc rpc,
                                            AsyncWork work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // The metadata and the peer's certificate are read here, on the reaction.
  std::string token = rpc.access == Access::kAnyone ? "" : BearerToken(ctx->client_metadata());
  // A user's client that sent no "authorization" header is told how to send
  // one (UNAUTHENTICATED); one that sent another scheme is checked as a
  // malformed token (INVALID_ARGUMENT).
  if (rpc.access == Access::kUser && token.empty() &&
      ctx->client_metadata().count("authorization") > 0) {
    token = "(not a bearer token)";
  }
  std::vector<std::string> names;
  if (rpc.access == Access::kNode) names = PeerCertificateNames(*ctx);
  UnaryCall call{.ctx = ctx,
                 .deadline = CappedDeadline(absl::FromChrono(ctx->deadline()), absl::Now()),
                 .key = {},
                 .node = {},
                 .user = {}};
  // Shared so that a refused submission, whose task is dropped unrun, can
  // still finish the call.
  auto finish = std::make_shared<Finisher>([this, ctx, reactor](absl::Status status) {
    Log(ctx, status);
    reactor->Finish(ToGrpcStatus(status));
  });
  const bool queued =
      pool_.TrySubmit([this, rpc, finish, call = std::move(call), token = std::move(token),
                       names = std::move(names), work = std::move(work)]() mutable {
        if (absl::Now() >= call.deadline) {
          return std::move(*finish)(absl::DeadlineExceededError(
              "the deadline passed while the call waited for a worker"));
        }
        // The store retries through a failover only while the caller waits.
        const store::CallDeadlineScope deadline(call.deadline);
        if (absl::Status known = Authenticate(rpc, token, names, call); !known.ok()) {
          return std::move(*finish)(known);
        }
        work(call, std::move(*finish));
      });
  if (!queued) std::move (*finish)(PoolFull(rpc.when_full));
  return reactor;
}

void Unary::Log(grpc::CallbackServerContext* ctx, const absl::Status& status) const {
  switch (status.code()) {
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDataLoss:
      log_()->error("call failed peer={} code={}: {}", ctx->peer(),
                    absl::StatusCodeToString(status.code()), status.message());
      return;
    case absl::StatusCode::kPermissionDenied:
      log_()->info("call refused peer={}: {}", ctx->peer(), status.message());
      return;
    default:
      return;
  }
}

grpc::ServerUnaryReactor* Unary::Refuse(grpc::CallbackServerContext* ctx,
                                        const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

absl::Status Unary::Authenticate(Rpc rpc, const std::string& token,
                                 const std::vector<std::string>& certificate_names,
                                 UnaryCall& call) {
  switch (rpc.access) {
    case Access::kAnyone:
      return absl::OkStatus();
    case Access::kNode: {
      if (nodes_ == nullptr) return absl::InternalError("this service takes no node credentials");
      absl::StatusOr<store::NodeIdentity> node = nodes_->Authenticate(token, certificate_names);
      if (!node.ok()) return node.status();
      call.node = *std::move(node);
      return absl::OkStatus();
    }
    case Access::kUser: {
      if (users_ == nullptr) return absl::InternalError("this service takes no access tokens");
      if (token.empty()) {
        return absl::UnauthenticatedError(
            "missing access token: send the header 'authorization: Bearer wat_...'");
      }
      absl::StatusOr<store::AccessGrant> user =
          users_->Authenticate("the authorization header's token", token, rpc.allow_disabled);
      if (!user.ok()) return user.status();
      call.user = *std::move(user);
      return absl::OkStatus();
    }
    case Access::kRead:
    case Access::kWrite: {
      if (api_keys_ == nullptr) return absl::InternalError("this service takes no API keys");
      absl::StatusOr<Principal> key = api_keys_->Authenticate(token);
      if (!key.ok()) return key.status();
      call.key = *std::move(key);
      return CheckRole(rpc.access, call.key);
    }
  }
  return absl::InternalError("unknown access rule");
}

}  // namespace warden::control::services
