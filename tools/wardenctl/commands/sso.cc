// sso providers: the identity providers users may log in with

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

View<v1::OidcProvider> ProviderView(const TimeText& time) {
  return {
      .columns =
          {
              {"NAME", [](const v1::OidcProvider& p) { return p.name(); }},
              {"ISSUER", [](const v1::OidcProvider& p) { return p.issuer(); }},
              {"CLIENT", [](const v1::OidcProvider& p) { return p.client_id(); }},
              {"AUTH", [](const v1::OidcProvider& p) { return p.client_auth(); }, true},
              {"CREATES USERS",
               [](const v1::OidcProvider& p) {
                 return std::string(p.create_users() ? "yes" : "no");
               }},
              {"GROUPS",
               [](const v1::OidcProvider& p) {
                 return p.allowed_groups().empty() ? std::string("any")
                                                   : absl::StrJoin(p.allowed_groups(), ",");
               }},
              {"KEYS", [](const v1::OidcProvider& p) { return absl::StrCat(p.key_count()); }},
              {"KEYS FETCHED",
               [&time](const v1::OidcProvider& p) { return time.Format(p.keys_fetched_at()); },
               true},
              {"PROBLEM",
               [](const v1::OidcProvider& p) {
                 return p.discovery_error().empty() ? std::string("-") : p.discovery_error();
               }},
          },
      .id = [](const v1::OidcProvider& p) { return p.name(); },
  };
}

}  // namespace

void AddSsoCommands(Cli& cli) {
  CLI::App* sso = cli.root().add_subcommand("sso", "Single sign-on");
  sso->require_subcommand(1);
  CLI::App* providers =
      WithExamples(sso->add_subcommand("providers", "The identity providers users may log in with"),
                   {"wardenctl sso providers", "wardenctl sso providers -o json"});
  cli.OnRun(providers, [](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(
        v1::ListOidcProvidersResponse response,
        admin->Call(&v1::AdminService::Stub::ListOidcProviders, v1::ListOidcProvidersRequest()));
    in.out().List(
        std::vector<v1::OidcProvider>(response.providers().begin(), response.providers().end()),
        ProviderView(in.out().time()));
    return absl::OkStatus();
  });
}

}  // namespace warden::wardenctl
