// keys create|list|revoke: API keys for people and tools

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/names.h"
#include "tools/wardenctl/resolve.h"
#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

using Stub = v1::AdminService::Stub;

void AddCreate(Cli& cli, CLI::App* keys) {
  auto name = std::make_shared<std::string>();
  auto role = std::make_shared<std::string>("viewer");
  CLI::App* create =
      WithExamples(keys->add_subcommand("create", "Create an API key; its secret is printed once"),
                   {"wardenctl keys create grafana                      # read-only (viewer)",
                    "wardenctl keys create ops-alice --role admin",
                    "(umask 077; wardenctl keys create ci -q > ci.key)  # -q: only the secret"});
  create->add_option("name", *name, "1-64 of [A-Za-z0-9._-]")->required();
  cli.Choices(create->add_option("--role", *role, "viewer (default; read only) or admin"),
              RoleWords());
  cli.OnRun(create, [name, role](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(v1::ApiKeyRole parsed, ParseRole(*role));
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::CreateApiKeyRequest request;
    request.set_name(*name);
    request.set_role(parsed);
    WARDEN_ASSIGN_OR_RETURN(v1::CreateApiKeyResponse created,
                            admin->Call(&Stub::CreateApiKey, request));
    in.out().Done(created,
                  absl::StrCat("API key ", created.key().name(), " created (",
                               RoleName(created.key().role()), ")\nsecret: ", created.secret(),
                               "\n  Shown once: keep it in a file (mode 0600) and use it with "
                               "--key-file or WARDEN_KEY_FILE."),
                  created.secret());
    return absl::OkStatus();
  });
}

void AddList(Cli& cli, CLI::App* keys) {
  auto all = std::make_shared<bool>(false);
  CLI::App* list = WithExamples(keys->add_subcommand("list", "List API keys (never secrets)"),
                                {"wardenctl keys list", "wardenctl keys list --all --wide"});
  list->alias("ls");
  list->add_flag("--all", *all, "revoked ones too");
  cli.OnRun(list, [all](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::ListApiKeysRequest request;
    request.set_include_revoked(*all);
    WARDEN_ASSIGN_OR_RETURN(v1::ListApiKeysResponse response,
                            admin->Call(&Stub::ListApiKeys, request));
    in.out().List(std::vector<v1::ApiKey>(response.keys().begin(), response.keys().end()),
                  ApiKeyView(in.out().time()));
    return absl::OkStatus();
  });
}

void AddRevoke(Cli& cli, CLI::App* keys) {
  auto target = std::make_shared<std::string>();
  CLI::App* revoke = WithExamples(
      keys->add_subcommand("revoke", "Revoke an API key; its open watches end within a second"),
      {"wardenctl keys revoke grafana"});
  revoke->add_option("key", *target, "name or id")->required();
  cli.OnRun(revoke, [target](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::ApiKey key, FindApiKey(*admin, *target));
    v1::RevokeApiKeyRequest request;
    request.set_id(key.id());
    WARDEN_ASSIGN_OR_RETURN(v1::ApiKey revoked, admin->Call(&Stub::RevokeApiKey, request));
    in.out().Done(revoked, absl::StrCat("API key ", revoked.name(), " revoked"), revoked.id());
    return absl::OkStatus();
  });
}

}  // namespace

void AddKeyCommands(Cli& cli) {
  CLI::App* keys = cli.root().add_subcommand("keys", "API keys: ADMIN (read and write) or VIEWER");
  keys->alias("key");
  keys->require_subcommand(1);
  AddCreate(cli, keys);
  AddList(cli, keys);
  AddRevoke(cli, keys);
}

}  // namespace warden::wardenctl
