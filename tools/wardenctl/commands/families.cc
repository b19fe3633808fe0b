// families list|revoke: login sessions of VPN apps (SessionService.Login)

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/paging.h"
#include "tools/wardenctl/resolve.h"
#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

using Stub = v1::AdminService::Stub;

void AddList(Cli& cli, CLI::App* families) {
  auto user = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  auto limit = std::make_shared<int>(0);
  CLI::App* list =
      WithExamples(families->add_subcommand("list", "List login families, newest first"),
                   {"wardenctl families list", "wardenctl families list --user alice --all"});
  list->alias("ls");
  list->add_option("--user", *user, "only this user's (username or id)");
  list->add_flag("--all", *all, "revoked ones too");
  list->add_option("--limit", *limit, "at most this many (default: all)");
  cli.OnRun(list, [user, all, limit](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::ListFamiliesRequest request;
    request.set_include_revoked(*all);
    if (!user->empty()) {
      WARDEN_ASSIGN_OR_RETURN(v1::User owner, FindUser(*admin, *user));
      request.set_user_id(owner.id());
    }
    WARDEN_ASSIGN_OR_RETURN(
        std::vector<v1::Family> families,
        ListAll(
            *admin, &Stub::ListFamilies, request,
            [](const v1::ListFamiliesResponse& page) -> const auto& { return page.families(); },
            *limit));
    in.out().List(families, FamilyView(in.out().time()));
    return absl::OkStatus();
  });
}

void AddRevoke(Cli& cli, CLI::App* families) {
  auto family = std::make_shared<std::string>();
  auto user = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  CLI::App* revoke = WithExamples(
      families->add_subcommand(
          "revoke", "Revoke a login family (or all of a user's) and kill the tunnels it opened"),
      {"wardenctl families revoke 5d1e7f00-... --reason 'lost phone'",
       "wardenctl families revoke --user alice --reason 'password reset'"});
  revoke->add_option("family", *family, "the family's id (wardenctl families list)");
  revoke->add_option("--user", *user, "every live family of this user instead");
  revoke->add_option("--reason", *reason, "kept with the family, e.g. 'lost phone'");
  cli.OnRun(revoke, [family, user, reason](Invocation& in) -> absl::Status {
    if (family->empty() == user->empty()) {
      return LocalError(absl::StatusCode::kInvalidArgument,
                        "name a family id or --user (one of the two)");
    }
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::RevokeFamilyResponse response;
    std::string id;
    if (!family->empty()) {
      v1::RevokeFamilyRequest request;
      request.set_family_id(*family);
      request.set_reason(*reason);
      WARDEN_ASSIGN_OR_RETURN(response, admin->Call(&Stub::RevokeFamily, request));
      id = *family;
    } else {
      WARDEN_ASSIGN_OR_RETURN(v1::User owner, FindUser(*admin, *user));
      v1::RevokeUserFamiliesRequest request;
      request.set_user_id(owner.id());
      request.set_reason(*reason);
      WARDEN_ASSIGN_OR_RETURN(response, admin->Call(&Stub::RevokeUserFamilies, request));
    }
    in.out().Done(
        response,
        absl::StrCat(response.families_revoked(),
                     response.families_revoked() == 1 ? " family" : " families", " revoked, ",
                     response.sessions_killed(),
                     response.sessions_killed() == 1 ? " session" : " sessions", " killed"),
        id);
    return absl::OkStatus();
  });
}

}  // namespace

void AddFamilyCommands(Cli& cli) {
  CLI::App* families = cli.root().add_subcommand(
      "families", "Login families of VPN apps: refresh-token chains and their tunnels");
  families->alias("family");
  families->require_subcommand(1);
  AddList(cli, families);
  AddRevoke(cli, families);
}

}  // namespace warden::wardenctl
