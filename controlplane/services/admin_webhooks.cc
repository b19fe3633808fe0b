// AdminService: webhook endpoints and their deliveries.

#include <arpa/inet.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/page_token.h"
#include "common/status_macros.h"
#include "controlplane/services/admin_service.h"
#include "controlplane/services/convert.h"
#include "controlplane/services/validation.h"
#include "controlplane/webhooks/event_catalogue.h"
#include "controlplane/webhooks/signature.h"
#include "controlplane/webhooks/target_guard.h"

namespace warden::control::services {
namespace {

constexpr size_t kMaxUrlBytes = 2048;
constexpr size_t kMaxDescriptionBytes = 512;
constexpr int kMaxEventTypes = 64;
constexpr absl::Duration kPreviousSecretValidFor = absl::Hours(24);

// Refused here when the URL names a non-public address itself; names are
// resolved (and checked) when delivering, where waiting for DNS blocks no
// one.
absl::Status ValidateWebhookUrl(const std::string& url, bool allow_private_targets) {
  if (url.empty()) return absl::InvalidArgumentError("url is required");
  if (url.size() > kMaxUrlBytes) {
    return absl::InvalidArgumentError(absl::StrCat("url is longer than ", kMaxUrlBytes, " bytes"));
  }
  WARDEN_ASSIGN_OR_RETURN(webhooks::WebhookUrl parsed, webhooks::ParseWebhookUrl(url));
  if (allow_private_targets) return absl::OkStatus();
  unsigned char address[16];
  const bool literal = inet_pton(AF_INET, parsed.host.c_str(), address) == 1 ||
                       inet_pton(AF_INET6, parsed.host.c_str(), address) == 1;
  std::string host = absl::AsciiStrToLower(parsed.host);
  if (!host.empty() && host.back() == '.') host.pop_back();
  if ((literal && !webhooks::IsPublicAddress(parsed.host)) || host == "localhost" ||
      absl::EndsWith(host, ".localhost")) {
    return absl::InvalidArgumentError(
        absl::StrCat("url \"", url, "\" points to ", parsed.host,
                     ", which is not a public address; start warden-control with "
                     "--webhook-allow-private-targets to deliver to private targets"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ValidateEventTypes(
    const google::protobuf::RepeatedPtrField<std::string>& types) {
  if (types.size() > kMaxEventTypes) {
    return absl::InvalidArgumentError(
        absl::StrCat("event_types: at most ", kMaxEventTypes, " entries"));
  }
  std::set<std::string> unique;
  for (const std::string& type : types) {
    if (!webhooks::IsSubscribable(type)) {
      return absl::InvalidArgumentError(
          absl::StrCat("event_types: \"", type.substr(0, 64),
                       "\" is neither an event type nor a prefix ending in '.' of one; types: ",
                       absl::StrJoin(webhooks::kEventTypes, ", ")));
    }
    unique.insert(type);
  }
  return std::vector<std::string>(unique.begin(), unique.end());
}

absl::Status ValidateDescription(const std::string& description) {
  if (description.size() > kMaxDescriptionBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("description is longer than ", kMaxDescriptionBytes, " bytes"));
  }
  return absl::OkStatus();
}

void WebhookToProto(const model::Webhook& webhook, v1::Webhook* out) {
  out->set_id(webhook.id);
  out->set_url(webhook.url);
  for (const std::string& type : webhook.event_types) out->add_event_types(type);
  out->set_description(webhook.description);
  out->set_enabled(webhook.enabled);
  out->set_disabled_reason(webhook.disabled_reason);
  ToProto(webhook.created_at, out->mutable_created_at());
  ToProto(webhook.updated_at, out->mutable_updated_at());
  if (webhook.previous_secret_expires_at) {
    ToProto(*webhook.previous_secret_expires_at, out->mutable_previous_secret_expires_at());
  }
  if (webhook.failing_since) ToProto(*webhook.failing_since, out->mutable_failing_since());
  out->set_deliveries_pending(webhook.deliveries_pending);
  out->set_deliveries_failed(webhook.deliveries_failed);
}

v1::DeliveryStatus StatusToProto(model::DeliveryStatus status) {
  switch (status) {
    case model::DeliveryStatus::kDelivered:
      return v1::DELIVERY_STATUS_DELIVERED;
    case model::DeliveryStatus::kFailed:
      return v1::DELIVERY_STATUS_FAILED;
    case model::DeliveryStatus::kPending:
      break;
  }
  return v1::DELIVERY_STATUS_PENDING;
}

void DeliveryToProto(const model::WebhookDelivery& delivery, v1::WebhookDelivery* out) {
  out->set_id(delivery.id);
  out->set_webhook_id(delivery.webhook_id);
  out->set_message_id(delivery.message_id);
  out->set_event_type(delivery.event_type);
  out->set_status(StatusToProto(delivery.status));
  out->set_attempts(delivery.attempts);
  ToProto(delivery.created_at, out->mutable_created_at());
  if (delivery.status == model::DeliveryStatus::kPending) {
    ToProto(delivery.next_attempt_at, out->mutable_next_attempt_at());
  }
  if (delivery.delivered_at) ToProto(*delivery.delivered_at, out->mutable_delivered_at());
  out->set_last_http_status(delivery.last_http_status);
  out->set_last_error(delivery.last_error);
  out->set_payload_json(delivery.payload);
}

}  // namespace

absl::StatusOr<std::string> AdminService::SealNewSecret(std::string* secret) const {
  if (deps_.webhook_box == nullptr) {
    return absl::FailedPreconditionError(
        "webhooks need a key to seal their signing secrets: start warden-control with "
        "--webhook-key-file (32 bytes as hex, e.g. from `openssl rand -hex 32`)");
  }
  *secret = webhooks::NewSigningSecret();
  return deps_.webhook_box->Seal(*secret);
}

grpc::ServerUnaryReactor* AdminService::CreateWebhook(grpc::CallbackServerContext* ctx,
                                                      const v1::CreateWebhookRequest* request,
                                                      v1::CreateWebhookResponse* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateWebhookUrl(request->url(), deps_.webhook_allow_private_targets));
    model::Webhook webhook;
    webhook.url = request->url();
    webhook.description = request->description();
    WARDEN_ASSIGN_OR_RETURN(webhook.event_types, ValidateEventTypes(request->event_types()));
    WARDEN_RETURN_IF_ERROR(ValidateDescription(webhook.description));
    std::string secret;
    WARDEN_ASSIGN_OR_RETURN(std::string sealed, SealNewSecret(&secret));
    WARDEN_ASSIGN_OR_RETURN(model::Webhook created,
                            deps_.webhooks.Create(call.actor(), webhook, sealed));
    WebhookToProto(created, response->mutable_webhook());
    response->set_secret(std::move(secret));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::GetWebhook(grpc::CallbackServerContext* ctx,
                                                   const v1::GetWebhookRequest* request,
                                                   v1::Webhook* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call&) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("webhook_id", request->webhook_id()));
    WARDEN_ASSIGN_OR_RETURN(model::Webhook webhook, deps_.webhooks.Get(request->webhook_id()));
    WebhookToProto(webhook, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListWebhooks(grpc::CallbackServerContext* ctx,
                                                     const v1::ListWebhooksRequest*,
                                                     v1::ListWebhooksResponse* response) {
  return Serve(ctx, Access::kWrite, [this, response](const Call&) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(std::vector<model::Webhook> webhooks, deps_.webhooks.List());
    for (const model::Webhook& webhook : webhooks)
      WebhookToProto(webhook, response->add_webhooks());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::UpdateWebhook(grpc::CallbackServerContext* ctx,
                                                      const v1::UpdateWebhookRequest* request,
                                                      v1::Webhook* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    constexpr absl::string_view kUpdatable[] = {"url", "event_types", "description", "enabled"};
    if (!request->has_webhook()) return absl::InvalidArgumentError("webhook is required");
    const v1::Webhook& webhook = request->webhook();
    WARDEN_RETURN_IF_ERROR(ValidateUuid("webhook.id", webhook.id()));
    if (request->update_mask().paths_size() == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("update_mask must name at least one of: ", absl::StrJoin(kUpdatable, ", ")));
    }
    model::WebhookChanges changes;
    for (const std::string& path : request->update_mask().paths()) {
      if (path == "url") {
        WARDEN_RETURN_IF_ERROR(
            ValidateWebhookUrl(webhook.url(), deps_.webhook_allow_private_targets));
        changes.url = webhook.url();
      } else if (path == "event_types") {
        WARDEN_ASSIGN_OR_RETURN(changes.event_types, ValidateEventTypes(webhook.event_types()));
      } else if (path == "description") {
        WARDEN_RETURN_IF_ERROR(ValidateDescription(webhook.description()));
        changes.description = webhook.description();
      } else if (path == "enabled") {
        changes.enabled = webhook.enabled();
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("update_mask: \"", path.substr(0, 64),
                         "\" is not updatable; updatable: ", absl::StrJoin(kUpdatable, ", ")));
      }
    }
    WARDEN_ASSIGN_OR_RETURN(model::Webhook updated,
                            deps_.webhooks.Update(call.actor(), webhook.id(), changes));
    WebhookToProto(updated, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::DeleteWebhook(grpc::CallbackServerContext* ctx,
                                                      const v1::DeleteWebhookRequest* request,
                                                      v1::DeleteWebhookResponse*) {
  return Serve(ctx, Access::kWrite, [this, request](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("webhook_id", request->webhook_id()));
    return deps_.webhooks.Delete(call.actor(), request->webhook_id());
  });
}

grpc::ServerUnaryReactor* AdminService::RotateWebhookSecret(
    grpc::CallbackServerContext* ctx, const v1::RotateWebhookSecretRequest* request,
    v1::CreateWebhookResponse* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("webhook_id", request->webhook_id()));
    std::string secret;
    WARDEN_ASSIGN_OR_RETURN(std::string sealed, SealNewSecret(&secret));
    WARDEN_ASSIGN_OR_RETURN(model::Webhook rotated,
                            deps_.webhooks.Rotate(call.actor(), request->webhook_id(), sealed,
                                                  kPreviousSecretValidFor));
    WebhookToProto(rotated, response->mutable_webhook());
    response->set_secret(std::move(secret));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::ListWebhookDeliveries(
    grpc::CallbackServerContext* ctx, const v1::ListWebhookDeliveriesRequest* request,
    v1::ListWebhookDeliveriesResponse* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call&) -> absl::Status {
    model::DeliveryFilter filter;
    if (!request->webhook_id().empty()) {
      WARDEN_RETURN_IF_ERROR(ValidateUuid("webhook_id", request->webhook_id()));
      filter.webhook_id = request->webhook_id();
    }
    switch (request->status()) {
      case v1::DELIVERY_STATUS_PENDING:
        filter.status = model::DeliveryStatus::kPending;
        break;
      case v1::DELIVERY_STATUS_DELIVERED:
        filter.status = model::DeliveryStatus::kDelivered;
        break;
      case v1::DELIVERY_STATUS_FAILED:
        filter.status = model::DeliveryStatus::kFailed;
        break;
      default:
        break;
    }
    WARDEN_ASSIGN_OR_RETURN(filter.limit, paging::ResolvePageSize(request->page_size()));
    const std::string query =
        absl::StrCat("deliveries|", filter.webhook_id, "|", static_cast<int>(request->status()));
    WARDEN_ASSIGN_OR_RETURN(filter.before_id,
                            paging::DecodeIdPageToken(request->page_token(), query));
    const int page_size = filter.limit;
    filter.limit = page_size + 1;
    WARDEN_ASSIGN_OR_RETURN(std::vector<model::WebhookDelivery> deliveries,
                            deps_.webhooks.Deliveries(filter));
    const bool more = static_cast<int>(deliveries.size()) > page_size;
    if (more) deliveries.resize(static_cast<size_t>(page_size));
    for (const model::WebhookDelivery& delivery : deliveries) {
      DeliveryToProto(delivery, response->add_deliveries());
    }
    if (more) {
      response->set_next_page_token(
          paging::EncodePageToken(query, absl::StrCat(deliveries.back().id)));
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::RedeliverWebhook(grpc::CallbackServerContext* ctx,
                                                         const v1::RedeliverWebhookRequest* request,
                                                         v1::WebhookDelivery* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    if (request->delivery_id() <= 0) {
      return absl::InvalidArgumentError("delivery_id must be a delivery's id (a positive number)");
    }
    WARDEN_ASSIGN_OR_RETURN(model::WebhookDelivery delivery,
                            deps_.webhooks.Redeliver(call.actor(), request->delivery_id()));
    DeliveryToProto(delivery, response);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* AdminService::TestWebhook(grpc::CallbackServerContext* ctx,
                                                    const v1::TestWebhookRequest* request,
                                                    v1::WebhookDelivery* response) {
  return Serve(ctx, Access::kWrite, [this, request, response](const Call& call) -> absl::Status {
    WARDEN_RETURN_IF_ERROR(ValidateUuid("webhook_id", request->webhook_id()));
    WARDEN_ASSIGN_OR_RETURN(model::WebhookDelivery delivery,
                            deps_.webhooks.QueueTest(call.actor(), request->webhook_id()));
    DeliveryToProto(delivery, response);
    return absl::OkStatus();
  });
}

}  // namespace warden::control::services
