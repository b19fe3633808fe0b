#include "controlplane/services/account_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "controlplane/model/session_end.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/limits_proto.h"
#include "controlplane/services/validation.h"
#include "controlplane/services/wg_quick.h"

namespace warden::control::services {
namespace {

const logging::Logger Log("control.account");

// More than any one person registers or logs in with; lists are not paged.
constexpr int kMaxListed = 1000;
// How far back ListMySessions(include_ended) looks.
constexpr absl::Duration kEndedWindow = absl::Hours(24 * 7);
// How long EndMySession waits for the node's answer.
constexpr absl::Duration kEndWait = absl::Seconds(5);
constexpr int kMaxLabelBytes = 64;

void ToProto(const model::Session& session, v1::MySession* out) {
  out->set_id(session.id);
  out->set_node_name(session.node_name);
  out->set_protocol(services::ToProto(session.protocol));
  out->set_device_label(session.device_label);
  out->set_tunnel_address(session.tunnel_address);
  out->set_state(services::ToProto(session.state));
  services::ToProto(session.opened_at, out->mutable_opened_at());
  services::ToProto(session.last_seen_at, out->mutable_last_seen_at());
  if (session.closed_at) services::ToProto(*session.closed_at, out->mutable_closed_at());
  out->set_rx_bytes(session.rx_bytes);
  out->set_tx_bytes(session.tx_bytes);
  out->set_end_reason(session.end_reason);
  out->set_close_reason(session.close_reason);
}

}  // namespace

AccountService::AccountService(AccountDependencies deps)
    : deps_(deps),
      users_(deps.families),
      unary_(Log, deps.db_workers, /*api_keys=*/nullptr, /*nodes=*/nullptr, &users_),
      throttled_(deps.metrics.AddCounter(
          "warden_account_calls_throttled_total",
          "AccountService calls refused by the caller's rate limit (--account-rate-per-second).",
          {})) {
  deps.metrics.OnScrape(
      [throttle = &deps.throttle,
       keys = &deps.metrics
                   .AddGauge("warden_account_throttle_keys",
                             "Users whose AccountService bucket is still "
                             "refilling (kept in memory).",
                             {})
                   .With({})] { keys->Set(static_cast<double>(throttle->keys())); });
}

grpc::ServerUnaryReactor* AccountService::ServeAsync(grpc::CallbackServerContext* ctx, Kind kind,
                                                     Unary::AsyncWork work) {
  return unary_.ServeAsync(
      ctx, Rpc{.access = Access::kUser, .allow_disabled = kind == Kind::kReadOrEnd},
      [this, work = std::move(work)](const UnaryCall& call, Unary::Finisher finish) mutable {
        const families::BucketStep step = deps_.throttle.Attempt(call.user.user_id);
        if (!step.allowed) {
          throttled_.With({}).Increment();
          return std::move(finish)(
              RetryLater(call.ctx, step.retry_after, "too many calls for this user"));
        }
        work(call, std::move(finish));
      });
}

grpc::ServerUnaryReactor* AccountService::Serve(grpc::CallbackServerContext* ctx, Kind kind,
                                                Unary::Work work) {
  return ServeAsync(
      ctx, kind, [work = std::move(work)](const UnaryCall& call, Unary::Finisher finish) mutable {
        std::move(finish)(work(call));
      });
}

grpc::ServerUnaryReactor* AccountService::GetMe(grpc::CallbackServerContext* ctx,
                                                const v1::GetMeRequest*, v1::Me* response) {
  return Serve(ctx, Kind::kReadOrEnd, [this, response](const UnaryCall& call) -> absl::Status {
    const std::string& user_id = call.user.user_id;
    WARDEN_ASSIGN_OR_RETURN(model::User user, deps_.users.GetById(user_id));
    WARDEN_ASSIGN_OR_RETURN(int64_t live, deps_.sessions.CountLive(user_id));
    WARDEN_ASSIGN_OR_RETURN(model::DevicePage devices,
                            deps_.devices.List({.user_id = user_id, .limit = kMaxListed}));
    response->set_user_id(user.id);
    response->set_username(user.username);
    response->set_disabled(user.disabled);
    ToProto(user.effective, response->mutable_effective());
    response->set_live_sessions(static_cast<int32_t>(live));
    if (user.effective.data_quota_bytes.value > 0) {
      WARDEN_ASSIGN_OR_RETURN(model::QuotaStanding standing, deps_.usage.Standing(user_id));
      ToProto(standing, response->mutable_quota());
    }
    if (user.expires_at) ToProto(*user.expires_at, response->mutable_expires_at());
    response->set_devices(static_cast<int32_t>(devices.devices.size()));
    response->set_max_devices(deps_.max_devices);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AccountService::ListMyDevices(grpc::CallbackServerContext* ctx,
                                                        const v1::ListMyDevicesRequest*,
                                                        v1::ListMyDevicesResponse* response) {
  return Serve(ctx, Kind::kReadOrEnd, [this, response](const UnaryCall& call) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(
        model::DevicePage page,
        deps_.devices.List({.user_id = call.user.user_id, .limit = kMaxListed}));
    for (const model::Device& device : page.devices) ToProto(device, response->add_devices());
    return absl::OkStatus();
  });
}

absl::Status AccountService::DeviceConfig(const model::Device& device, v1::MyDeviceConfig* out) {
  ToProto(device, out->mutable_device());
  WARDEN_ASSIGN_OR_RETURN(std::vector<model::NodePeer> nodes,
                          deps_.devices.NodePeersFor(device.user_id));
  for (const model::NodePeer& node : nodes) {
    v1::WireGuardNodePeer* peer = out->add_peers();
    peer->set_node_name(node.node_name);
    peer->set_public_key(node.public_key);
    peer->set_endpoint(node.endpoint);
    for (const char* allowed : kFullTunnelAllowedIps) peer->add_allowed_ips(allowed);
    (*out->mutable_wg_quick())[node.node_name] = RenderWgQuick(device, node);
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* AccountService::RegisterMyDevice(
    grpc::CallbackServerContext* ctx, const v1::RegisterMyDeviceRequest* request,
    v1::MyDeviceConfig* response) {
  return Serve(
      ctx, Kind::kChange, [this, request, response](const UnaryCall& call) -> absl::Status {
        WARDEN_RETURN_IF_ERROR(ValidateWireGuardKey("public_key", request->public_key()));
        WARDEN_RETURN_IF_ERROR(ValidateText("label", request->label(), kMaxLabelBytes, false));
        WARDEN_ASSIGN_OR_RETURN(
            store::RegisteredDevice registered,
            deps_.commands.RegisterDevice(call.actor(),
                                          store::NewDevice{.user = {.id = call.user.user_id},
                                                           .public_key = request->public_key(),
                                                           .label = request->label(),
                                                           .expires_at = std::nullopt,
                                                           .max_devices = deps_.max_devices}));
        return DeviceConfig(registered.device, response);
      });
}

grpc::ServerUnaryReactor* AccountService::GetMyDeviceConfig(
    grpc::CallbackServerContext* ctx, const v1::GetMyDeviceConfigRequest* request,
    v1::MyDeviceConfig* response) {
  return Serve(ctx, Kind::kReadOrEnd,
               [this, request, response](const UnaryCall& call) -> absl::Status {
                 WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
                 WARDEN_ASSIGN_OR_RETURN(model::Device device,
                                         deps_.devices.GetOwned(call.user.user_id, request->id()));
                 return DeviceConfig(device, response);
               });
}

grpc::ServerUnaryReactor* AccountService::RenameMyDevice(grpc::CallbackServerContext* ctx,
                                                         const v1::RenameMyDeviceRequest* request,
                                                         v1::Device* response) {
  return Serve(
      ctx, Kind::kChange, [this, request, response](const UnaryCall& call) -> absl::Status {
        WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
        WARDEN_RETURN_IF_ERROR(ValidateText("label", request->label(), kMaxLabelBytes, false));
        WARDEN_ASSIGN_OR_RETURN(
            model::Device device,
            deps_.devices.Rename(call.actor(), call.user.user_id, request->id(), request->label()));
        ToProto(device, response);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AccountService::RevokeMyDevice(grpc::CallbackServerContext* ctx,
                                                         const v1::RevokeMyDeviceRequest* request,
                                                         v1::RevokeMyDeviceResponse* response) {
  return Serve(ctx, Kind::kReadOrEnd,
               [this, request, response](const UnaryCall& call) -> absl::Status {
                 WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
                 WARDEN_ASSIGN_OR_RETURN(
                     store::RevokedDevice revoked,
                     deps_.commands.RevokeDevice(call.actor(), request->id(), call.user.user_id));
                 response->set_sessions_killed(revoked.sessions_killed);
                 return absl::OkStatus();
               });
}

grpc::ServerUnaryReactor* AccountService::ListMySessions(grpc::CallbackServerContext* ctx,
                                                         const v1::ListMySessionsRequest* request,
                                                         v1::ListMySessionsResponse* response) {
  return Serve(
      ctx, Kind::kReadOrEnd, [this, request, response](const UnaryCall& call) -> absl::Status {
        store::SessionFilter filter{.user_id = call.user.user_id};
        WARDEN_ASSIGN_OR_RETURN(filter.limit, paging::ResolvePageSize(request->page_size()));
        filter.open_only = true;
        if (request->include_ended()) filter.or_closed_since = absl::Now() - kEndedWindow;
        WARDEN_ASSIGN_OR_RETURN(std::vector<model::Session> sessions, deps_.sessions.List(filter));
        for (const model::Session& session : sessions) {
          ToProto(session, response->add_sessions());
        }
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AccountService::EndMySession(grpc::CallbackServerContext* ctx,
                                                       const v1::EndMySessionRequest* request,
                                                       v1::EndMySessionResponse* response) {
  return ServeAsync(
      ctx, Kind::kReadOrEnd,
      [this, request, response](const UnaryCall& call, Unary::Finisher finish) {
        if (absl::Status valid = ValidateUuid("id", request->id()); !valid.ok()) {
          return std::move(finish)(valid);
        }
        const absl::Time now = absl::Now();
        dispatch::KillRequest kill{
            .session_id = request->id(),
            .reason = "ended by the user",
            .end_code = model::end_reason::kEndedByUser,
            .owner_user_id = call.user.user_id,
            .force = false,
            .wait_until = std::min(now + kEndWait, AnswerDeadline(call.deadline, now))};
        deps_.commands.KillSession(
            call.actor(), std::move(kill),
            [response,
             finish = std::move(finish)](absl::StatusOr<dispatch::KillAnswer> answer) mutable {
              // The end is committed either way: a node slow to answer is
              // not the user's error.
              if (!answer.ok() && answer.status().code() == absl::StatusCode::kDeadlineExceeded) {
                response->set_result("the node has not answered yet; the session is being ended");
                return std::move(finish)(absl::OkStatus());
              }
              if (!answer.ok()) return std::move(finish)(answer.status());
              response->set_acknowledged(answer->acknowledged);
              response->set_result(answer->result);
              std::move(finish)(absl::OkStatus());
            });
      });
}

grpc::ServerUnaryReactor* AccountService::ListMyLogins(grpc::CallbackServerContext* ctx,
                                                       const v1::ListMyLoginsRequest*,
                                                       v1::ListMyLoginsResponse* response) {
  return Serve(ctx, Kind::kReadOrEnd, [this, response](const UnaryCall& call) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(store::FamilyPage page,
                            deps_.families.List(store::FamilyFilter{.user_id = call.user.user_id,
                                                                    .limit = kMaxListed}));
    for (const store::FamilyRecord& family : page.families) {
      v1::MyLogin* login = response->add_logins();
      login->set_id(family.id);
      login->set_device_label(family.device_label);
      ToProto(family.created_at, login->mutable_created_at());
      ToProto(family.last_seen_at, login->mutable_last_seen_at());
      ToProto(family.expires_at, login->mutable_expires_at());
      login->set_current(family.id == call.user.family_id);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AccountService::EndMyLogin(grpc::CallbackServerContext* ctx,
                                                     const v1::EndMyLoginRequest* request,
                                                     v1::EndMyLoginResponse* response) {
  return Serve(
      ctx, Kind::kReadOrEnd, [this, request, response](const UnaryCall& call) -> absl::Status {
        WARDEN_RETURN_IF_ERROR(ValidateUuid("id", request->id()));
        WARDEN_ASSIGN_OR_RETURN(store::FamilyRevocation revoked,
                                deps_.commands.RevokeFamily(
                                    call.actor(), request->id(), model::end_reason::kLogout,
                                    request->kill_tunnels(), "family.logout", call.user.user_id));
        response->set_sessions_killed(static_cast<int32_t>(revoked.kills.size()));
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AccountService::GetMyLastDisconnect(grpc::CallbackServerContext* ctx,
                                                              const v1::GetMyLastDisconnectRequest*,
                                                              v1::LastDisconnect* response) {
  return Serve(ctx, Kind::kReadOrEnd, [this, response](const UnaryCall& call) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(std::optional<model::Session> last,
                            deps_.sessions.LastEnded(call.user.user_id));
    if (!last) return absl::OkStatus();
    response->set_found(true);
    response->set_session_id(last->id);
    response->set_end_reason(last->end_reason);
    response->set_close_reason(last->close_reason);
    response->set_node_name(last->node_name);
    response->set_device_label(last->device_label);
    if (last->closed_at) ToProto(*last->closed_at, response->mutable_ended_at());
    return absl::OkStatus();
  });
}

}  // namespace warden::control::services
