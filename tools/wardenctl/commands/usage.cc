// usage get|top|reset|grant: traffic per day or month, and the support
// desk's quota tools

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"
#include "tools/wardenctl/exit_codes.h"
#include "tools/wardenctl/names.h"
#include "tools/wardenctl/resolve.h"
#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

using Stub = v1::AdminService::Stub;

// The quota standing as name/value lines for a person.
std::vector<std::pair<std::string, std::string>> QuotaLines(const v1::QuotaStatus& quota) {
  if (quota.quota_bytes() == 0) return {{"QUOTA", "none"}};
  std::vector<std::pair<std::string, std::string>> lines = {
      {"QUOTA", BytesText(quota.quota_bytes())},
      {"GRANTED", BytesText(quota.granted_bytes())},
      {"USED", BytesText(quota.used_bytes())},
      {"REMAINING", BytesText(quota.remaining_bytes())},
      {"WINDOW", absl::StrCat("from ", quota.window_start(),
                              quota.quota_period_days() == 0
                                  ? std::string(" (calendar month)")
                                  : absl::StrCat(" (", quota.quota_period_days(), " days)"),
                              ", resets ", quota.resets_at())},
      {"OVER QUOTA", quota.held() ? absl::StrCat("yes: ", quota.on_quota_exceeded()) : "no"},
  };
  if (!quota.note().empty()) lines.push_back({"NOTE", quota.note()});
  return lines;
}

void PrintQuota(Invocation& in, const v1::QuotaStatus& quota) {
  in.out().Fields(quota, QuotaLines(quota));
}

void AddGet(Cli& cli, CLI::App* usage) {
  auto user = std::make_shared<std::string>();
  auto from = std::make_shared<std::string>();
  auto to = std::make_shared<std::string>();
  auto monthly = std::make_shared<bool>(false);
  CLI::App* get = WithExamples(
      usage->add_subcommand("get", "A user's traffic per day (or month) and quota standing"),
      {"wardenctl usage get alice                       # this month, day by day",
       "wardenctl usage get alice --monthly             # the last twelve months",
       "wardenctl usage get alice --from 2026-11-01 --to 2026-11-30 --wide",
       "wardenctl usage get alice -o json | jq .quota.remainingBytes"});
  get->add_option("user", *user, "username or id")->required();
  get->add_option("--from", *from, "first day, YYYY-MM-DD (UTC)");
  get->add_option("--to", *to, "last day, YYYY-MM-DD (UTC)");
  get->add_flag("--monthly", *monthly, "months rather than days");
  cli.OnRun(get, [user, from, to, monthly](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::User found, FindUser(*admin, *user));
    v1::GetUsageRequest request;
    request.set_user_id(found.id());
    request.set_from(*from);
    request.set_to(*to);
    request.set_granularity(*monthly ? v1::MONTH : v1::DAY);
    WARDEN_ASSIGN_OR_RETURN(v1::GetUsageResponse response, admin->Call(&Stub::GetUsage, request));
    if (in.out().structured()) {
      in.out().Structured(MessageJson(response));
      return absl::OkStatus();
    }
    in.out().List(
        std::vector<v1::UsagePeriod>(response.periods().begin(), response.periods().end()),
        UsagePeriodView());
    if (in.out().options().quiet) return absl::OkStatus();
    in.out().Line("");
    in.out().Line(absl::StrCat("total: ", BytesText(response.rx_bytes() + response.tx_bytes()),
                               " (rx ", BytesText(response.rx_bytes()), ", tx ",
                               BytesText(response.tx_bytes()), ")"));
    PrintQuota(in, response.quota());
    return absl::OkStatus();
  });
}

void AddTop(Cli& cli, CLI::App* usage) {
  auto period = std::make_shared<std::string>();
  auto monthly = std::make_shared<bool>(false);
  auto limit = std::make_shared<int>(10);
  CLI::App* top = WithExamples(
      usage->add_subcommand("top", "The users who moved the most bytes in a day or a month"),
      {"wardenctl usage top", "wardenctl usage top --monthly --limit 50",
       "wardenctl usage top --period 2026-11-30"});
  top->add_option("--period", *period, "the day (or, with --monthly, any day of the month)");
  top->add_flag("--monthly", *monthly, "a month rather than a day");
  top->add_option("--limit", *limit, "how many (default 10, at most 1000)");
  cli.OnRun(top, [period, monthly, limit](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    v1::ListTopUsersRequest request;
    request.set_period(*period);
    request.set_granularity(*monthly ? v1::MONTH : v1::DAY);
    request.set_limit(*limit);
    WARDEN_ASSIGN_OR_RETURN(v1::ListTopUsersResponse response,
                            admin->Call(&Stub::ListTopUsers, request));
    in.out().List(std::vector<v1::UserUsage>(response.users().begin(), response.users().end()),
                  TopUserView());
    return absl::OkStatus();
  });
}

void AddReset(Cli& cli, CLI::App* usage) {
  auto user = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  CLI::App* reset = WithExamples(
      usage->add_subcommand("reset",
                            "Forget what the user used in this quota window (the ledger keeps "
                            "it); a held user is released at once"),
      {"wardenctl usage reset alice --reason 'ticket 4711: runaway backup'"});
  reset->add_option("user", *user, "username or id")->required();
  reset->add_option("--reason", *reason, "for the audit log")->required();
  cli.OnRun(reset, [user, reason](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::User found, FindUser(*admin, *user));
    v1::ResetUsageRequest request;
    request.set_user_id(found.id());
    request.set_reason(*reason);
    WARDEN_ASSIGN_OR_RETURN(v1::QuotaStatus quota, admin->Call(&Stub::ResetUsage, request));
    if (!in.out().structured() && !in.out().options().quiet) {
      in.out().Line(absl::StrCat("usage of ", found.username(), " reset for this window"));
    }
    PrintQuota(in, quota);
    return absl::OkStatus();
  });
}

void AddGrant(Cli& cli, CLI::App* usage) {
  auto user = std::make_shared<std::string>();
  auto amount = std::make_shared<std::string>();
  auto reason = std::make_shared<std::string>();
  CLI::App* grant =
      WithExamples(usage->add_subcommand(
                       "grant", "Add bytes to the user's quota in the windows that contain now"),
                   {"wardenctl usage grant alice 10GiB --reason 'goodwill, ticket 4712'"});
  grant->add_option("user", *user, "username or id")->required();
  grant->add_option("bytes", *amount, "how much: 10GiB, 500M, 1073741824")->required();
  grant->add_option("--reason", *reason, "for the audit log")->required();
  cli.OnRun(grant, [user, amount, reason](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(int64_t bytes, ParseByteRate(*amount));
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::User found, FindUser(*admin, *user));
    v1::GrantExtraQuotaRequest request;
    request.set_user_id(found.id());
    request.set_bytes(bytes);
    request.set_reason(*reason);
    WARDEN_ASSIGN_OR_RETURN(v1::QuotaStatus quota, admin->Call(&Stub::GrantExtraQuota, request));
    if (!in.out().structured() && !in.out().options().quiet) {
      in.out().Line(absl::StrCat(BytesText(bytes), " granted to ", found.username()));
    }
    PrintQuota(in, quota);
    return absl::OkStatus();
  });
}

}  // namespace

void AddUsageCommands(Cli& cli) {
  CLI::App* usage =
      cli.root().add_subcommand("usage", "Traffic per user, top users, quota resets and grants");
  usage->require_subcommand(1);
  AddGet(cli, usage);
  AddTop(cli, usage);
  AddReset(cli, usage);
  AddGrant(cli, usage);
}

}  // namespace warden::wardenctl
