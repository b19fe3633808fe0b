// webhooks create|get|list|update|enable|disable|delete|rotate-secret|
// deliveries|redeliver|test: the endpoints events are POSTed to

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/paging.h"
#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

using Stub = v1::AdminService::Stub;

absl::StatusOr<v1::Webhook> GetWebhook(AdminClient& admin, const std::string& id) {
  v1::GetWebhookRequest request;
  request.set_webhook_id(id);
  return admin.Call(&Stub::GetWebhook, request);
}

std::string SecretSentence(const v1::CreateWebhookResponse& created, absl::string_view what) {
  return absl::StrCat("webhook ", created.webhook().id(), " ", what, "\nsecret: ", created.secret(),
                      "\n  Shown once: give it to the receiver, which verifies the "
                      "webhook-signature header with it (Standard Webhooks).");
}

void AddCreate(Cli& cli, CLI::App* webhooks) {
  auto url = std::make_shared<std::string>();
  auto events = std::make_shared<std::vector<std::string>>();
  auto description = std::make_shared<std::string>();
  CLI::App* create = WithExamples(
      webhooks->add_subcommand("create", "Add an endpoint; its signing secret is printed once"),
      {"wardenctl webhooks create https://hooks.example.com/warden --events session.evicted,quota.",
       "wardenctl webhooks create https://siem.example.com/in --description 'every event'",
       "(umask 077; wardenctl webhooks create https://x.example/in -q > hook.secret)"});
  create->add_option("url", *url, "http:// or https://")->required();
  create
      ->add_option("--events", *events,
                   "event types or prefixes ending in '.', comma-separated (default: all)")
      ->delimiter(',');
  create->add_option("--description", *description, "what the endpoint is");
  cli.OnRun(create, [url, events, description](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::CreateWebhookRequest request;
    request.set_url(*url);
    for (const std::string& event : *events) request.add_event_types(event);
    request.set_description(*description);
    WARDEN_ASSIGN_OR_RETURN(v1::CreateWebhookResponse created,
                            admin->Call(&Stub::CreateWebhook, request));
    in.out().Done(created, SecretSentence(created, "created"), created.secret());
    return absl::OkStatus();
  });
}

void AddGetAndList(Cli& cli, CLI::App* webhooks) {
  auto id = std::make_shared<std::string>();
  CLI::App* get =
      WithExamples(webhooks->add_subcommand("get", "Show one endpoint"),
                   {"wardenctl webhooks get 3f0c…", "wardenctl webhooks get 3f0c… -o yaml"});
  get->add_option("webhook", *id, "id")->required();
  cli.OnRun(get, [id](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::Webhook webhook, GetWebhook(*admin, *id));
    in.out().One(webhook, WebhookView(in.out().time()));
    return absl::OkStatus();
  });

  CLI::App* list = WithExamples(
      webhooks->add_subcommand("list", "List endpoints, with pending and failed counts"),
      {"wardenctl webhooks list", "wardenctl webhooks list --wide"});
  list->alias("ls");
  cli.OnRun(list, [](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::ListWebhooksResponse response,
                            admin->Call(&Stub::ListWebhooks, v1::ListWebhooksRequest()));
    in.out().List(std::vector<v1::Webhook>(response.webhooks().begin(), response.webhooks().end()),
                  WebhookView(in.out().time()));
    return absl::OkStatus();
  });
}

absl::Status Update(Invocation& in, v1::Webhook change, const std::vector<std::string>& paths,
                    absl::string_view what) {
  WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
  v1::UpdateWebhookRequest request;
  *request.mutable_webhook() = std::move(change);
  for (const std::string& path : paths) request.mutable_update_mask()->add_paths(path);
  WARDEN_ASSIGN_OR_RETURN(v1::Webhook updated, admin->Call(&Stub::UpdateWebhook, request));
  in.out().Done(updated, absl::StrCat("webhook ", updated.id(), " ", what), updated.id());
  return absl::OkStatus();
}

void AddUpdate(Cli& cli, CLI::App* webhooks) {
  auto id = std::make_shared<std::string>();
  auto url = std::make_shared<std::string>();
  auto events = std::make_shared<std::vector<std::string>>();
  auto description = std::make_shared<std::string>();
  CLI::App* update = WithExamples(
      webhooks->add_subcommand("update", "Change an endpoint's URL, events or description"),
      {"wardenctl webhooks update 3f0c… --events session.,node.",
       "wardenctl webhooks update 3f0c… --events ''   # every event"});
  update->add_option("webhook", *id, "id")->required();
  CLI::Option* url_option = update->add_option("--url", *url, "a new URL");
  CLI::Option* events_option =
      update->add_option("--events", *events, "event types or prefixes, comma-separated ('' = all)")
          ->delimiter(',');
  CLI::Option* description_option = update->add_option("--description", *description, "");
  cli.OnRun(update, [=](Invocation& in) -> absl::Status {
    v1::Webhook change;
    change.set_id(*id);
    std::vector<std::string> paths;
    if (url_option->count() > 0) {
      change.set_url(*url);
      paths.push_back("url");
    }
    if (events_option->count() > 0) {
      for (const std::string& event : *events) {
        if (!event.empty()) change.add_event_types(event);
      }
      paths.push_back("event_types");
    }
    if (description_option->count() > 0) {
      change.set_description(*description);
      paths.push_back("description");
    }
    if (paths.empty()) {
      return LocalError(absl::StatusCode::kInvalidArgument,
                        "nothing to change: give --url, --events or --description");
    }
    return Update(in, change, paths, absl::StrCat("updated (", absl::StrJoin(paths, ", "), ")"));
  });

  for (bool enable : {true, false}) {
    auto target = std::make_shared<std::string>();
    CLI::App* command = WithExamples(
        webhooks->add_subcommand(enable ? "enable" : "disable",
                                 enable
                                     ? "Deliver to the endpoint again (clears its failure record)"
                                     : "Stop delivering to the endpoint; events keep queueing"),
        {enable ? "wardenctl webhooks enable 3f0c…" : "wardenctl webhooks disable 3f0c…"});
    command->add_option("webhook", *target, "id")->required();
    cli.OnRun(command, [target, enable](Invocation& in) -> absl::Status {
      v1::Webhook change;
      change.set_id(*target);
      change.set_enabled(enable);
      return Update(in, change, {"enabled"}, enable ? "enabled" : "disabled");
    });
  }
}

void AddDeleteAndRotate(Cli& cli, CLI::App* webhooks) {
  auto id = std::make_shared<std::string>();
  CLI::App* remove = WithExamples(
      webhooks->add_subcommand("delete", "Remove an endpoint and its pending deliveries"),
      {"wardenctl webhooks delete 3f0c…"});
  remove->alias("rm");
  remove->add_option("webhook", *id, "id")->required();
  cli.OnRun(remove, [id](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::DeleteWebhookRequest request;
    request.set_webhook_id(*id);
    WARDEN_ASSIGN_OR_RETURN(v1::DeleteWebhookResponse response,
                            admin->Call(&Stub::DeleteWebhook, request));
    in.out().Done(response, absl::StrCat("webhook ", *id, " deleted"), *id);
    return absl::OkStatus();
  });

  auto rotated = std::make_shared<std::string>();
  CLI::App* rotate = WithExamples(
      webhooks->add_subcommand("rotate-secret",
                               "A new signing secret; the old one keeps signing for 24 hours"),
      {"wardenctl webhooks rotate-secret 3f0c…"});
  rotate->add_option("webhook", *rotated, "id")->required();
  cli.OnRun(rotate, [rotated](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::RotateWebhookSecretRequest request;
    request.set_webhook_id(*rotated);
    WARDEN_ASSIGN_OR_RETURN(v1::CreateWebhookResponse response,
                            admin->Call(&Stub::RotateWebhookSecret, request));
    in.out().Done(response, SecretSentence(response, "has a new secret"), response.secret());
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::DeliveryStatus> ParseDeliveryStatus(absl::string_view text) {
  for (v1::DeliveryStatus status : {v1::DELIVERY_STATUS_UNSPECIFIED, v1::DELIVERY_STATUS_PENDING,
                                    v1::DELIVERY_STATUS_DELIVERED, v1::DELIVERY_STATUS_FAILED}) {
    const std::string name =
        status == v1::DELIVERY_STATUS_UNSPECIFIED ? std::string("any") : DeliveryStatusName(status);
    if (text == name) return status;
  }
  return LocalError(absl::StatusCode::kInvalidArgument,
                    absl::StrCat("--status \"", text, "\": say pending, delivered, failed or any"));
}

void AddDeliveries(Cli& cli, CLI::App* webhooks) {
  auto id = std::make_shared<std::string>();
  auto status = std::make_shared<std::string>("any");
  auto limit = std::make_shared<int>(50);
  auto show_payload = std::make_shared<bool>(false);
  CLI::App* deliveries = WithExamples(
      webhooks->add_subcommand("deliveries", "An endpoint's deliveries, newest first"),
      {"wardenctl webhooks deliveries 3f0c… --status failed",
       "wardenctl webhooks deliveries 3f0c… --limit 1 -o json | jq -r '.[0].payloadJson'"});
  deliveries->add_option("webhook", *id, "id")->required();
  cli.Choices(deliveries->add_option("--status", *status, "pending, delivered, failed or any"),
              {"pending", "delivered", "failed", "any"});
  deliveries->add_option("--limit", *limit, "at most this many (default 50; 0 = all)");
  cli.OnRun(deliveries, [id, status, limit](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(v1::DeliveryStatus wanted, ParseDeliveryStatus(*status));
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::ListWebhookDeliveriesRequest request;
    request.set_webhook_id(*id);
    request.set_status(wanted);
    WARDEN_ASSIGN_OR_RETURN(std::vector<v1::WebhookDelivery> found,
                            ListAll(
                                *admin, &Stub::ListWebhookDeliveries, request,
                                [](const v1::ListWebhookDeliveriesResponse& page) -> const auto& {
                                  return page.deliveries();
                                },
                                *limit));
    in.out().List(found, DeliveryView(in.out().time()));
    return absl::OkStatus();
  });

  auto delivery = std::make_shared<int64_t>(0);
  CLI::App* redeliver = WithExamples(
      webhooks->add_subcommand("redeliver", "Send a delivery again now, with the same webhook-id"),
      {"wardenctl webhooks redeliver 1042"});
  redeliver->add_option("delivery", *delivery, "the delivery's number")->required();
  cli.OnRun(redeliver, [delivery](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::RedeliverWebhookRequest request;
    request.set_delivery_id(*delivery);
    WARDEN_ASSIGN_OR_RETURN(v1::WebhookDelivery queued,
                            admin->Call(&Stub::RedeliverWebhook, request));
    in.out().Done(queued, absl::StrCat("delivery ", queued.id(), " queued again"),
                  absl::StrCat(queued.id()));
    return absl::OkStatus();
  });

  auto tested = std::make_shared<std::string>();
  CLI::App* test = WithExamples(
      webhooks->add_subcommand("test", "Queue a webhook.test event for this endpoint alone"),
      {"wardenctl webhooks test 3f0c… && wardenctl webhooks deliveries 3f0c… --limit 1"});
  test->add_option("webhook", *tested, "id")->required();
  cli.OnRun(test, [tested](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::TestWebhookRequest request;
    request.set_webhook_id(*tested);
    WARDEN_ASSIGN_OR_RETURN(v1::WebhookDelivery queued, admin->Call(&Stub::TestWebhook, request));
    in.out().Done(queued, absl::StrCat("test event queued as delivery ", queued.id()),
                  absl::StrCat(queued.id()));
    return absl::OkStatus();
  });
}

}  // namespace

void AddWebhookCommands(Cli& cli) {
  CLI::App* webhooks = cli.root().add_subcommand(
      "webhooks", "Webhooks: signed event deliveries to the operator's endpoints");
  webhooks->alias("webhook");
  webhooks->require_subcommand(1);
  AddCreate(cli, webhooks);
  AddGetAndList(cli, webhooks);
  AddUpdate(cli, webhooks);
  AddDeleteAndRotate(cli, webhooks);
  AddDeliveries(cli, webhooks);
}

}  // namespace warden::wardenctl
