#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {
namespace {

absl::StatusOr<std::optional<model::SessionState>> ParseStateFilter(int value) {
  switch (value) {
    case v1::SESSION_STATE_UNSPECIFIED:
      return std::nullopt;
    case v1::SESSION_STATE_ACTIVE:
      return model::SessionState::kActive;
    case v1::SESSION_STATE_CLOSING:
      return model::SessionState::kClosing;
    case v1::SESSION_STATE_CLOSED:
      return model::SessionState::kClosed;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "state must be SESSION_STATE_ACTIVE, SESSION_STATE_CLOSING or SESSION_STATE_CLOSED; got ",
          value));
  }
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::ListSessions(grpc::CallbackServerContext* ctx,
                                                     const v1::ListSessionsRequest* request,
                                                     v1::ListSessionsResponse* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    store::SessionFilter filter;
    WARDEN_ASSIGN_OR_RETURN(const int page_size, paging::ResolvePageSize(request->page_size()));
    if (!request->user_id().empty()) {
      WARDEN_RETURN_IF_ERROR(ValidateUuid("user_id", request->user_id()));
      filter.user_id = request->user_id();
    }
    if (!request->node_id().empty()) {
      WARDEN_RETURN_IF_ERROR(ValidateUuid("node_id", request->node_id()));
      filter.node_id = request->node_id();
    }
    WARDEN_ASSIGN_OR_RETURN(filter.state, ParseStateFilter(request->state()));
    if (request->protocol() != v1::PROTOCOL_UNSPECIFIED) {
      WARDEN_ASSIGN_OR_RETURN(filter.protocol, ParseProtocol("protocol", request->protocol()));
    }
    const std::string query = absl::StrCat("sessions|", filter.user_id, "|", filter.node_id, "|",
                                           request->state(), "|", request->protocol());
    WARDEN_ASSIGN_OR_RETURN(std::string after,
                            paging::DecodePageToken(request->page_token(), query));
    if (!after.empty()) {
      WARDEN_ASSIGN_OR_RETURN(filter.before, ParsePosition(after));
    }
    filter.limit = page_size + 1;  // one extra row tells whether another page exists
    WARDEN_ASSIGN_OR_RETURN(std::vector<model::Session> sessions,
                            deps_.reads.sessions.List(filter));
    const bool more = static_cast<int>(sessions.size()) > page_size;
    if (more) sessions.resize(page_size);
    for (const model::Session& session : sessions) ToProto(session, response->add_sessions());
    if (more)
      response->set_next_page_token(paging::EncodePageToken(
          query, EncodePosition(sessions.back().opened_at, sessions.back().id)));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::GetStats(grpc::CallbackServerContext* ctx,
                                                 const v1::GetStatsRequest*, v1::Stats* response) {
  return Serve(ctx, Access::kRead, [this, response](const Call&) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(store::FleetStats stats, deps_.reads.sessions.Stats());
    ToProto(stats, response);
    WARDEN_ASSIGN_OR_RETURN(store::SignalStats signal, deps_.signal.FleetStats());
    response->set_signal_rooms(signal.rooms);
    response->set_signal_members(signal.members);
    response->set_signal_relays_per_second(signal.relays_per_second);
    response->set_signal_streams_here(deps_.signal.LocalStats().streams);
    WARDEN_ASSIGN_OR_RETURN(auto today, deps_.reads.usage.FleetToday());
    response->set_traffic_rx_bytes_today(today.first);
    response->set_traffic_tx_bytes_today(today.second);
    return absl::OkStatus();
  });
}

}  // namespace warden::control::services
