// AdminService: the traffic ledger and data quotas.

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "common/status_macros.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"

namespace warden::control::services {
namespace {

constexpr int kMaxDays = 400;
constexpr int kMaxMonths = 120;

absl::StatusOr<absl::CivilDay> ParseDay(absl::string_view field, const std::string& text,
                                        absl::CivilDay fallback) {
  if (text.empty()) return fallback;
  absl::CivilDay day;
  if (!absl::ParseCivilTime(text, &day)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must be a day as YYYY-MM-DD, not \"", text, "\""));
  }
  return day;
}

store::UsageGranularity Granularity(v1::UsageGranularity granularity) {
  return granularity == v1::MONTH ? store::UsageGranularity::kMonth
                                  : store::UsageGranularity::kDay;
}

absl::CivilDay FirstOfMonth(absl::CivilDay day) {
  return absl::CivilDay(absl::CivilMonth(day));
}

absl::CivilDay Today() { return absl::ToCivilDay(absl::Now(), absl::UTCTimeZone()); }

void PeriodsToProto(const std::vector<model::UsageRow>& rows, v1::GetUsageResponse* out) {
  v1::UsagePeriod* period = nullptr;
  std::map<model::Protocol, v1::ProtocolUsage*> protocols;
  for (const model::UsageRow& row : rows) {
    const std::string start = absl::FormatCivilTime(row.period);
    if (period == nullptr || period->start() != start) {
      period = out->add_periods();
      period->set_start(start);
      protocols.clear();
    }
    period->set_rx_bytes(period->rx_bytes() + row.rx_bytes);
    period->set_tx_bytes(period->tx_bytes() + row.tx_bytes);
    v1::ProtocolUsage*& protocol = protocols[row.protocol];
    if (protocol == nullptr) {
      protocol = period->add_by_protocol();
      protocol->set_protocol(ToProto(row.protocol));
    }
    protocol->set_rx_bytes(protocol->rx_bytes() + row.rx_bytes);
    protocol->set_tx_bytes(protocol->tx_bytes() + row.tx_bytes);
    v1::NodeUsage* node = period->add_by_node();
    node->set_node_id(row.node_id);
    node->set_node_name(row.node_name);
    node->set_protocol(ToProto(row.protocol));
    node->set_rx_bytes(row.rx_bytes);
    node->set_tx_bytes(row.tx_bytes);
    out->set_rx_bytes(out->rx_bytes() + row.rx_bytes);
    out->set_tx_bytes(out->tx_bytes() + row.tx_bytes);
  }
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::GetUsage(grpc::CallbackServerContext* ctx,
                                                 const v1::GetUsageRequest* request,
                                                 v1::GetUsageResponse* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("user_id", request->user_id()));
    const store::UsageGranularity granularity = Granularity(request->granularity());
    const bool monthly = granularity == store::UsageGranularity::kMonth;
    WARDEN_ASSIGN_OR_RETURN(absl::CivilDay to, ParseDay("to", request->to(), Today()));
    const absl::CivilDay default_from =
        monthly ? absl::CivilDay(absl::CivilMonth(to) - 11) : FirstOfMonth(to);
    WARDEN_ASSIGN_OR_RETURN(absl::CivilDay from, ParseDay("from", request->from(), default_from));
    if (monthly) {
      from = FirstOfMonth(from);
      to = FirstOfMonth(to);
    }
    if (from > to) return absl::InvalidArgumentError("from must not be after to");
    if (monthly ? absl::CivilMonth(to) - absl::CivilMonth(from) >= kMaxMonths
                : to - from >= kMaxDays) {
      return absl::InvalidArgumentError(absl::StrCat("at most ", kMaxDays, " days or ", kMaxMonths,
                                                     " months per request"));
    }
    WARDEN_ASSIGN_OR_RETURN(model::QuotaStanding standing,
                            deps_.reads.usage.Standing(request->user_id()));
    WARDEN_ASSIGN_OR_RETURN(std::vector<model::UsageRow> rows,
                            deps_.reads.usage.Usage(request->user_id(), from, to, granularity));
    response->set_user_id(request->user_id());
    PeriodsToProto(rows, response);
    ToProto(standing, response->mutable_quota());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListTopUsers(grpc::CallbackServerContext* ctx,
                                                     const v1::ListTopUsersRequest* request,
                                                     v1::ListTopUsersResponse* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    if (request->limit() < 0 || request->limit() > 1000) {
      return absl::InvalidArgumentError("limit must be between 0 (10) and 1000");
    }
    const store::UsageGranularity granularity = Granularity(request->granularity());
    WARDEN_ASSIGN_OR_RETURN(absl::CivilDay day, ParseDay("period", request->period(), Today()));
    absl::CivilDay from = day, to = day;
    if (granularity == store::UsageGranularity::kMonth) from = to = FirstOfMonth(day);
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<model::UserTraffic> top,
        deps_.reads.usage.TopUsers(from, to, granularity,
                                   request->limit() == 0 ? 10 : request->limit()));
    response->set_period_start(absl::FormatCivilTime(from));
    for (const model::UserTraffic& user : top) {
      v1::UserUsage* out = response->add_users();
      out->set_user_id(user.user_id);
      out->set_username(user.username);
      out->set_rx_bytes(user.rx_bytes);
      out->set_tx_bytes(user.tx_bytes);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ResetUsage(grpc::CallbackServerContext* ctx,
                                                   const v1::ResetUsageRequest* request,
                                                   v1::QuotaStatus* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("user_id", request->user_id()));
    WARDEN_ASSIGN_OR_RETURN(std::string reason,
                            ReasonOrDefault(request->reason(), "reset by administrator"));
    WARDEN_RETURN_IF_ERROR(
        deps_.commands.ResetUsage(call.actor(), request->user_id(), reason).status());
    WARDEN_ASSIGN_OR_RETURN(model::QuotaStanding standing,
                            deps_.usage.Standing(request->user_id()));
    ToProto(standing, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::GrantExtraQuota(grpc::CallbackServerContext* ctx,
                                                        const v1::GrantExtraQuotaRequest* request,
                                                        v1::QuotaStatus* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("user_id", request->user_id()));
    if (request->bytes() <= 0) return absl::InvalidArgumentError("bytes must be positive");
    WARDEN_ASSIGN_OR_RETURN(std::string reason,
                            ReasonOrDefault(request->reason(), "granted by administrator"));
    WARDEN_RETURN_IF_ERROR(
        deps_.commands.GrantExtraQuota(call.actor(), request->user_id(), request->bytes(), reason)
            .status());
    WARDEN_ASSIGN_OR_RETURN(model::QuotaStanding standing,
                            deps_.usage.Standing(request->user_id()));
    ToProto(standing, response);
    return absl::OkStatus();
  });
}

}  // namespace warden::control::services
