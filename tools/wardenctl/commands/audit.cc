// audit [--follow], watch: the audit log, and audit events as they happen

#include <algorithm>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/backoff.h"
#include "common/status_macros.h"
#include "common/timestamp.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/event_line.h"
#include "tools/wardenctl/paging.h"
#include "tools/wardenctl/resolve.h"
#include "tools/wardenctl/views.h"
#include "tools/wardenctl/yaml.h"

namespace warden::wardenctl {
namespace {

using Stub = v1::AdminService::Stub;

struct EventFilter {
  std::string actor;
  std::string action;
  std::string subject;

  void AddOptions(CLI::App* command) {
    command->add_option("--actor", actor, "only by this API key, node or \"system\"");
    command->add_option("--action", action,
                        "exact (user.update) or a prefix ending in '.' (session.)");
    command->add_option("--subject", subject,
                        "only about this: user:alice, node:fra-2, session:<id>, device:<id>");
  }

  // user:<name> and node:<name> as the ids the audit log keeps.
  absl::StatusOr<std::string> Subject(AdminClient& admin) const {
    for (absl::string_view kind : {"user:", "node:"}) {
      if (!absl::StartsWith(subject, kind) || LooksLikeUuid(subject.substr(kind.size()))) {
        continue;
      }
      const std::string name = subject.substr(kind.size());
      if (kind == "user:") {
        WARDEN_ASSIGN_OR_RETURN(v1::User user, FindUser(admin, name));
        return absl::StrCat(kind, user.id());
      }
      WARDEN_ASSIGN_OR_RETURN(v1::Node node, FindNode(admin, name));
      return absl::StrCat(kind, node.id());
    }
    return subject;
  }
};

// Names of users and nodes for event lines, asked once per id.
class NameCache {
 public:
  explicit NameCache(AdminClient& admin) : admin_(admin) {}

  std::string operator()(absl::string_view kind, const std::string& id) {
    const std::string key = absl::StrCat(kind, ":", id);
    auto found = names_.find(key);
    if (found != names_.end()) return found->second;
    std::string name;  // "" when gone (a deleted user) or not answered: the id is shown
    if (kind == "user") {
      v1::GetUserRequest request;
      request.set_id(id);
      absl::StatusOr<v1::User> user = admin_.Call(&Stub::GetUser, request);
      if (user.ok()) name = user->username();
    } else if (kind == "node") {
      v1::GetNodeRequest request;
      request.set_id(id);
      absl::StatusOr<v1::Node> node = admin_.Call(&Stub::GetNode, request);
      if (node.ok()) name = node->name();
    }
    names_[key] = name;
    return name;
  }

 private:
  AdminClient& admin_;
  std::map<std::string, std::string> names_;
};

// One event of a stream: a line for a person, one JSON object a line (or a
// YAML document) for a script, its id with --quiet.
void PrintStreamed(Invocation& in, const v1::AuditEvent& event, NameCache& names) {
  Printer& out = in.out();
  if (out.options().quiet) {
    out.Line(absl::StrCat(event.id()));
  } else if (out.options().format == Format::kJson) {
    out.Line(MessageJson(event).dump());
  } else if (out.options().format == Format::kYaml) {
    out.out() << "---\n" << ToYaml(MessageJson(event));
  } else {
    const EventLineStyle style{.terminal = out.options().terminal, .color = out.options().color};
    out.Line(EventLine(event, style, std::ref(names)));
  }
  out.out().flush();
}

// Follows WatchEvents from `request.after_id`. A stream that was up and is
// lost (a control plane restarting) is opened again after the last event
// seen, so the feed has no gap; a first attempt that fails is an error.
absl::Status Follow(Invocation& in, AdminClient& admin, v1::WatchEventsRequest request,
                    NameCache& names) {
  Backoff backoff(absl::Milliseconds(250), absl::Seconds(5));
  bool was_up = false;
  while (true) {
    std::unique_ptr<grpc::ClientContext> context = admin.NewContext();
    std::unique_ptr<grpc::ClientReader<v1::WatchEventsResponse>> reader =
        admin.stub().WatchEvents(context.get(), request);
    v1::WatchEventsResponse response;
    while (reader->Read(&response)) {
      was_up = true;
      backoff.Reset();
      if (!response.has_event()) continue;  // a heartbeat
      PrintStreamed(in, response.event(), names);
      request.set_after_id(response.event().id());
    }
    const grpc::Status status = reader->Finish();
    if (status.ok()) return absl::OkStatus();
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || !was_up) {
      return FromGrpcStatus(status);
    }
    in.err() << "wardenctl: the watch was cut (" << status.error_message()
             << "); resuming after event " << request.after_id() << "\n";
    absl::SleepFor(backoff.Next());
  }
}

void AddAudit(Cli& cli) {
  auto filter = std::make_shared<EventFilter>();
  auto since = std::make_shared<std::string>();
  auto until = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(50);
  auto follow = std::make_shared<bool>(false);
  CLI::App* audit =
      WithExamples(cli.root().add_subcommand("audit", "The audit log: who did what, oldest first"),
                   {"wardenctl audit", "wardenctl audit --action user.update --since 24h",
                    "wardenctl audit --subject user:alice --limit 200 -o json",
                    "wardenctl audit --action session. --follow"});
  filter->AddOptions(audit);
  audit->add_option("--since", *since, "from this time (RFC 3339, or a duration ago: 2h)");
  audit->add_option("--until", *until, "before this time (same forms)");
  audit->add_option("--limit", *limit, "the newest this many (default 50; 0 = all)");
  audit->add_flag("-f,--follow", *follow, "then keep printing events as they happen");
  cli.OnRun(audit, [filter, since, until, limit, follow](Invocation& in) -> absl::Status {
    const absl::Time now = absl::Now();
    v1::ListAuditEventsRequest request;
    if (!since->empty()) {
      WARDEN_ASSIGN_OR_RETURN(absl::Time time, ParseTimeFlag(*since, now));
      SetTimestamp(time, request.mutable_since());
    }
    if (!until->empty()) {
      WARDEN_ASSIGN_OR_RETURN(absl::Time time, ParseTimeFlag(*until, now));
      SetTimestamp(time, request.mutable_until());
    }
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(std::string subject, filter->Subject(*admin));
    request.set_actor(filter->actor);
    request.set_action(filter->action);
    request.set_subject(subject);
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<v1::AuditEvent> events,
        ListAll(
            *admin, &Stub::ListAuditEvents, request,
            [](const v1::ListAuditEventsResponse& page) -> const auto& { return page.events(); },
            *limit));
    // The API answers newest first; a log reads oldest first, as `tail` does.
    std::reverse(events.begin(), events.end());
    NameCache names(*admin);
    if (!*follow) {
      in.out().List(events, AuditView(in.out().time(), std::ref(names)));
      return absl::OkStatus();
    }
    for (const v1::AuditEvent& event : events) PrintStreamed(in, event, names);
    v1::WatchEventsRequest watch;
    watch.set_actor(filter->actor);
    watch.set_action(filter->action);
    watch.set_subject(subject);
    watch.set_after_id(events.empty() ? 0 : events.back().id());
    return Follow(in, *admin, watch, names);
  });
}

void AddWatch(Cli& cli) {
  auto filter = std::make_shared<EventFilter>();
  auto after = std::make_shared<int64_t>(0);
  CLI::App* watch = WithExamples(
      cli.root().add_subcommand("watch",
                                "Audit events as they happen, one line each (Ctrl-C stops)"),
      {"wardenctl watch", "wardenctl watch --action session.",
       "wardenctl watch --subject user:alice -o json | jq -c 'select(.action==\"session.evict\")'",
       "wardenctl watch --after-id 1200     # resume where a previous watch stopped"});
  filter->AddOptions(watch);
  watch->add_option("--after-id", *after, "resume after this event id (default: from now on)");
  cli.OnRun(watch, [filter, after](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::WatchEventsRequest request;
    WARDEN_ASSIGN_OR_RETURN(std::string subject, filter->Subject(*admin));
    request.set_actor(filter->actor);
    request.set_action(filter->action);
    request.set_subject(subject);
    request.set_after_id(*after);
    NameCache names(*admin);
    return Follow(in, *admin, request, names);
  });
}

}  // namespace

void AddAuditCommands(Cli& cli) {
  AddAudit(cli);
  AddWatch(cli);
}

}  // namespace warden::wardenctl
