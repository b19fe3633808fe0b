#include "absl/strings/str_cat.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"

namespace warden::control::services {
namespace {

absl::Status ValidateFilterText(absl::string_view field, absl::string_view value) {
  if (value.size() > 256) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be at most 256 characters"));
  }
  return absl::OkStatus();
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::ListAuditEvents(grpc::CallbackServerContext* ctx,
                                                        const v1::ListAuditEventsRequest* request,
                                                        v1::ListAuditEventsResponse* response) {
  return Serve(ctx, Access::kRead, [this, request, response](const Call&) -> absl::Status {
    model::AuditFilter filter;
    WARDEN_ASSIGN_OR_RETURN(filter.limit, paging::ResolvePageSize(request->page_size()));
    WARDEN_RETURN_IF_ERROR(ValidateFilterText("actor", request->actor()));
    WARDEN_RETURN_IF_ERROR(ValidateFilterText("action", request->action()));
    WARDEN_RETURN_IF_ERROR(ValidateFilterText("subject", request->subject()));
    filter.actor = request->actor();
    filter.action = request->action();
    filter.subject = request->subject();
    if (request->has_since()) filter.since = FromProto(request->since());
    if (request->has_until()) filter.until = FromProto(request->until());
    if (filter.since && filter.until && *filter.until <= *filter.since) {
      return absl::InvalidArgumentError("until must be later than since");
    }
    const std::string query =
        absl::StrCat("audit|", filter.actor, "|", filter.action, "|", filter.subject, "|",
                     request->since().seconds(), ".", request->since().nanos(), "|",
                     request->until().seconds(), ".", request->until().nanos());
    WARDEN_ASSIGN_OR_RETURN(filter.before_id,
                            paging::DecodeIdPageToken(request->page_token(), query));
    const int page_size = filter.limit;
    filter.limit = page_size + 1;  // one extra row tells whether another page exists
    WARDEN_ASSIGN_OR_RETURN(std::vector<model::AuditEvent> events, deps_.reads.audit.List(filter));
    const bool more = static_cast<int>(events.size()) > page_size;
    if (more) events.resize(page_size);
    for (const model::AuditEvent& event : events) ToProto(event, response->add_events());
    if (more) {
      response->set_next_page_token(paging::EncodePageToken(query, absl::StrCat(events.back().id)));
    }
    return absl::OkStatus();
  });
}

}  // namespace warden::control::services
