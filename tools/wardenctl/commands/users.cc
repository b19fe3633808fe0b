// users create|get|list|update|disable|enable|delete

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/commands/inputs.h"
#include "tools/wardenctl/commands/limit_options.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/names.h"
#include "tools/wardenctl/paging.h"
#include "tools/wardenctl/resolve.h"
#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

using Stub = v1::AdminService::Stub;

// The flags create and update share; an option not given is left out.
struct UserFields {
  std::string username;
  std::string plan;
  std::string expires;
  std::string password_file;
  LimitOptions limits;
  CLI::Option* username_option = nullptr;
  CLI::Option* plan_option = nullptr;
  CLI::Option* expires_option = nullptr;
  CLI::Option* password_option = nullptr;

  void AddOptions(Cli& cli, CLI::App* command) {
    plan_option = command->add_option("--plan", plan,
                                      "the user's plan, by name (\"\" = none): the limits the "
                                      "user does not set come from it");
    expires_option = command->add_option(
        "--expires", expires,
        "the account is valid until then: RFC 3339, a duration from now (30d), or never");
    password_option = command->add_option("--password-file", password_file,
                                          "a file holding the password ('-' = standard input)");
    limits.AddOptions(cli, command);
  }

  // Fills `user` with the options given and names them in `paths` (a FieldMask).
  absl::Status Apply(v1::User& user, std::vector<std::string>& paths) const {
    if (username_option != nullptr && username_option->count() > 0) {
      user.set_username(username);
      paths.push_back("username");
    }
    if (plan_option->count() > 0) {
      user.set_plan(plan);
      paths.push_back("plan");
    }
    if (expires_option->count() > 0) {
      if (expires != "never") {
        WARDEN_ASSIGN_OR_RETURN(absl::Time at, ParseFutureTimeFlag(expires, absl::Now()));
        user.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(at));
      }
      paths.push_back("expires_at");
    }
    if (password_option->count() > 0) {
      WARDEN_ASSIGN_OR_RETURN(std::string password, ReadPasswordFile(password_file));
      user.set_password(password);
      paths.push_back("password");
    }
    return limits.Apply(user, paths);
  }
};

absl::StatusOr<v1::User> UpdateUser(AdminClient& admin, v1::User user,
                                    const std::vector<std::string>& paths, bool keep_sessions) {
  v1::UpdateUserRequest request;
  *request.mutable_user() = std::move(user);
  for (const std::string& path : paths) request.mutable_update_mask()->add_paths(path);
  request.set_keep_sessions(keep_sessions);
  return admin.Call(&Stub::UpdateUser, request);
}

void AddCreate(Cli& cli, CLI::App* users) {
  auto fields = std::make_shared<UserFields>();
  auto disabled = std::make_shared<bool>(false);
  CLI::App* create = WithExamples(
      users->add_subcommand("create", "Create a user"),
      {"wardenctl users create alice --max-connections 2 --password-file alice.pw",
       "wardenctl users create bob --max-connections 1 --policy reject --bandwidth 10MiB",
       "wardenctl users create dave --plan premium --expires 30d --quota 100GiB",
       "wardenctl users create carol -q        # prints only the new user's id"});
  create->add_option("username", fields->username, "1-64 of [a-z0-9._@-]")->required();
  fields->AddOptions(cli, create);
  create->add_flag("--disabled", *disabled, "create it disabled");
  cli.OnRun(create, [fields, disabled](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::CreateUserRequest request;
    std::vector<std::string> paths;
    WARDEN_RETURN_IF_ERROR(fields->Apply(*request.mutable_user(), paths));
    request.mutable_user()->set_username(fields->username);
    request.mutable_user()->set_disabled(*disabled);
    WARDEN_ASSIGN_OR_RETURN(v1::User user, admin->Call(&Stub::CreateUser, request));
    in.out().Done(user, absl::StrCat("user ", user.username(), " created"), user.id());
    return absl::OkStatus();
  });
}

void AddGetAndList(Cli& cli, CLI::App* users) {
  auto name = std::make_shared<std::string>();
  CLI::App* get = WithExamples(users->add_subcommand("get", "Show one user"),
                               {"wardenctl users get alice", "wardenctl users get alice -o yaml"});
  get->add_option("user", *name, "username or id")->required();
  cli.OnRun(get, [name](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::User user, FindUser(*admin, *name));
    in.out().One(user, UserView(in.out().time()));
    return absl::OkStatus();
  });

  auto prefix = std::make_shared<std::string>();
  auto limit = std::make_shared<int>(0);
  CLI::App* list =
      WithExamples(users->add_subcommand("list", "List users, by username"),
                   {"wardenctl users list", "wardenctl users list --prefix al --wide",
                    "wardenctl users list -o json | jq -r '.[] | select(.disabled) | .username'"});
  list->alias("ls");
  list->add_option("--prefix", *prefix, "only usernames starting with this");
  list->add_option("--limit", *limit, "at most this many (default: all)");
  cli.OnRun(list, [prefix, limit](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::ListUsersRequest request;
    request.set_username_prefix(*prefix);
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<v1::User> users,
        ListAll(
            *admin, &Stub::ListUsers, request,
            [](const v1::ListUsersResponse& page) -> const auto& { return page.users(); }, *limit));
    in.out().List(users, UserView(in.out().time()));
    return absl::OkStatus();
  });
}

void AddUpdate(Cli& cli, CLI::App* users) {
  auto target = std::make_shared<std::string>();
  auto fields = std::make_shared<UserFields>();
  auto keep_sessions = std::make_shared<bool>(false);
  CLI::App* update = WithExamples(
      users->add_subcommand("update", "Change a user's limits, plan, expiry, password or username"),
      {"wardenctl users update alice --max-connections 3 --policy reject",
       "wardenctl users update alice --plan basic --clear max-connections",
       "wardenctl users update alice --password-file new.pw --keep-sessions",
       "wardenctl users update alice --username alice.smith"});
  update->add_option("user", *target, "username or id")->required();
  fields->username_option = update->add_option("--username", fields->username, "a new username");
  fields->AddOptions(cli, update);
  update->add_flag("--keep-sessions", *keep_sessions,
                   "with a new password: keep the user's logins instead of ending them");
  cli.OnRun(update, [target, fields, keep_sessions](Invocation& in) -> absl::Status {
    v1::User change;
    std::vector<std::string> paths;
    WARDEN_RETURN_IF_ERROR(fields->Apply(change, paths));
    if (paths.empty()) {
      return LocalError(absl::StatusCode::kInvalidArgument,
                        "nothing to change: give a limit (--max-connections, --policy, "
                        "--quota, ...), --clear, --plan, --expires, --password-file or "
                        "--username");
    }
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::User user, FindUser(*admin, *target));
    change.set_id(user.id());
    WARDEN_ASSIGN_OR_RETURN(v1::User updated, UpdateUser(*admin, change, paths, *keep_sessions));
    in.out().Done(
        updated,
        absl::StrCat("user ", updated.username(), " updated (", absl::StrJoin(paths, ", "), ")"),
        updated.id());
    return absl::OkStatus();
  });
}

void AddEnableDisable(Cli& cli, CLI::App* users, bool disable) {
  auto target = std::make_shared<std::string>();
  const std::string verb = disable ? "disable" : "enable";
  CLI::App* command = WithExamples(
      users->add_subcommand(verb, disable ? "Disable a user: every session ends, on every node"
                                          : "Let a disabled user connect again"),
      {disable ? "wardenctl users disable alice" : "wardenctl users enable alice"});
  command->add_option("user", *target, "username or id")->required();
  cli.OnRun(command, [target, disable](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::User user, FindUser(*admin, *target));
    v1::User change;
    change.set_id(user.id());
    change.set_disabled(disable);
    WARDEN_ASSIGN_OR_RETURN(v1::User updated, UpdateUser(*admin, change, {"disabled"}, false));
    in.out().Done(updated,
                  disable ? absl::StrCat("user ", updated.username(),
                                         " disabled: its sessions end on every node")
                          : absl::StrCat("user ", updated.username(), " enabled"),
                  updated.id());
    return absl::OkStatus();
  });
}

void AddDelete(Cli& cli, CLI::App* users) {
  auto target = std::make_shared<std::string>();
  CLI::App* remove = WithExamples(
      users->add_subcommand("delete", "Delete a user (refused while it has live sessions)"),
      {"wardenctl disconnect alice && wardenctl users delete alice"});
  remove->alias("rm");
  remove->add_option("user", *target, "username or id")->required();
  cli.OnRun(remove, [target](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::User user, FindUser(*admin, *target));
    v1::DeleteUserRequest request;
    request.set_id(user.id());
    WARDEN_ASSIGN_OR_RETURN(v1::DeleteUserResponse response,
                            admin->Call(&Stub::DeleteUser, request));
    in.out().Done(response, absl::StrCat("user ", user.username(), " deleted"), user.id());
    return absl::OkStatus();
  });
}

}  // namespace

void AddUserCommands(Cli& cli) {
  CLI::App* users = cli.root().add_subcommand("users", "Users: plans, limits, expiry, passwords");
  users->alias("user");
  users->require_subcommand(1);
  AddCreate(cli, users);
  AddGetAndList(cli, users);
  AddUpdate(cli, users);
  AddEnableDisable(cli, users, /*disable=*/true);
  AddEnableDisable(cli, users, /*disable=*/false);
  AddDelete(cli, users);
}

}  // namespace warden::wardenctl
