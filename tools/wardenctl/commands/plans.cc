// plans create|get|list|update|delete: named sets of limits users inherit

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/commands/limit_options.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/resolve.h"
#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

using Stub = v1::AdminService::Stub;

struct PlanFields {
  std::string name;
  std::string description;
  LimitOptions limits;
  CLI::Option* name_option = nullptr;
  CLI::Option* description_option = nullptr;

  void AddOptions(Cli& cli, CLI::App* command) {
    description_option =
        command->add_option("--description", description, "what the plan is for (512 characters)");
    limits.AddOptions(cli, command);
  }

  absl::Status Apply(v1::Plan& plan, std::vector<std::string>& paths) const {
    if (name_option != nullptr && name_option->count() > 0) {
      plan.set_name(name);
      paths.push_back("name");
    }
    if (description_option->count() > 0) {
      plan.set_description(description);
      paths.push_back("description");
    }
    return limits.Apply(plan, paths);
  }
};

void AddCreate(Cli& cli, CLI::App* plans) {
  auto fields = std::make_shared<PlanFields>();
  CLI::App* create = WithExamples(
      plans->add_subcommand("create", "Create a plan"),
      {"wardenctl plans create basic --max-connections 2 --bandwidth 10MiB --quota 50GiB",
       "wardenctl plans create premium --max-connections 5 --max-per-node 2 "
       "--label-cap region=2 --node-selector tier=premium|standard",
       "wardenctl plans create trial --max-connections 1 --idle-timeout 30m --max-session 8h"});
  create->add_option("name", fields->name, "1-63 of [a-z0-9._-], starting with a letter or digit")
      ->required();
  fields->AddOptions(cli, create);
  cli.OnRun(create, [fields](Invocation& in) -> absl::Status {
    v1::CreatePlanRequest request;
    std::vector<std::string> paths;
    WARDEN_RETURN_IF_ERROR(fields->Apply(*request.mutable_plan(), paths));
    if (!fields->limits.clear.empty()) {
      return LocalError(absl::StatusCode::kInvalidArgument,
                        "--clear is for update: a new plan sets only what it names");
    }
    request.mutable_plan()->set_name(fields->name);
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::Plan plan, admin->Call(&Stub::CreatePlan, request));
    in.out().Done(plan, absl::StrCat("plan ", plan.name(), " created"), plan.id());
    return absl::OkStatus();
  });
}

void AddGetAndList(Cli& cli, CLI::App* plans) {
  auto name = std::make_shared<std::string>();
  CLI::App* get = WithExamples(plans->add_subcommand("get", "Show one plan"),
                               {"wardenctl plans get basic", "wardenctl plans get basic -o yaml"});
  get->add_option("plan", *name, "name or id")->required();
  cli.OnRun(get, [name](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::Plan plan, FindPlan(*admin, *name));
    in.out().One(plan, PlanView(in.out().time()));
    return absl::OkStatus();
  });

  CLI::App* list = WithExamples(plans->add_subcommand("list", "List plans, with their users"),
                                {"wardenctl plans list", "wardenctl plans list --wide"});
  list->alias("ls");
  cli.OnRun(list, [](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::ListPlansResponse response,
                            admin->Call(&Stub::ListPlans, v1::ListPlansRequest()));
    in.out().List(std::vector<v1::Plan>(response.plans().begin(), response.plans().end()),
                  PlanView(in.out().time()));
    return absl::OkStatus();
  });
}

void AddUpdate(Cli& cli, CLI::App* plans) {
  auto target = std::make_shared<std::string>();
  auto fields = std::make_shared<PlanFields>();
  CLI::App* update = WithExamples(
      plans->add_subcommand("update",
                            "Change a plan: its users' sessions follow at once (limits lowered "
                            "end the newest sessions over them)"),
      {"wardenctl plans update basic --max-connections 3",
       "wardenctl plans update basic --clear quota --description 'no quota since May'"});
  update->add_option("plan", *target, "name or id")->required();
  fields->name_option = update->add_option("--name", fields->name, "a new name");
  fields->AddOptions(cli, update);
  cli.OnRun(update, [target, fields](Invocation& in) -> absl::Status {
    v1::Plan change;
    std::vector<std::string> paths;
    WARDEN_RETURN_IF_ERROR(fields->Apply(change, paths));
    if (paths.empty()) {
      return LocalError(absl::StatusCode::kInvalidArgument,
                        "nothing to change: give a limit (--max-connections, --quota, ...), "
                        "--clear, --name or --description");
    }
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::Plan plan, FindPlan(*admin, *target));
    change.set_id(plan.id());
    v1::UpdatePlanRequest request;
    *request.mutable_plan() = change;
    for (const std::string& path : paths) request.mutable_update_mask()->add_paths(path);
    WARDEN_ASSIGN_OR_RETURN(v1::Plan updated, admin->Call(&Stub::UpdatePlan, request));
    in.out().Done(
        updated,
        absl::StrCat("plan ", updated.name(), " updated (", absl::StrJoin(paths, ", "), ")"),
        updated.id());
    return absl::OkStatus();
  });
}

void AddDelete(Cli& cli, CLI::App* plans) {
  auto target = std::make_shared<std::string>();
  CLI::App* remove =
      WithExamples(plans->add_subcommand("delete", "Delete a plan (refused while users are on it)"),
                   {"wardenctl plans delete trial"});
  remove->alias("rm");
  remove->add_option("plan", *target, "name or id")->required();
  cli.OnRun(remove, [target](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::Plan plan, FindPlan(*admin, *target));
    v1::DeletePlanRequest request;
    request.set_id(plan.id());
    WARDEN_ASSIGN_OR_RETURN(v1::DeletePlanResponse response,
                            admin->Call(&Stub::DeletePlan, request));
    in.out().Done(response, absl::StrCat("plan ", plan.name(), " deleted"), plan.id());
    return absl::OkStatus();
  });
}

}  // namespace

void AddPlanCommands(Cli& cli) {
  CLI::App* plans = cli.root().add_subcommand(
      "plans", "Plans: limits, quotas and node choices that users inherit");
  plans->alias("plan");
  plans->require_subcommand(1);
  AddCreate(cli, plans);
  AddGetAndList(cli, plans);
  AddUpdate(cli, plans);
  AddDelete(cli, plans);
}

}  // namespace warden::wardenctl
