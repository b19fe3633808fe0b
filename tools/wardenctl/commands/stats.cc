// stats: what the fleet carries right now

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "tools/wardenctl/cli.h"
#include "tools/wardenctl/commands/commands.h"

namespace warden::wardenctl {
namespace {

// "fra-2=3 ams-1=1", sorted: a protobuf map keeps no order.
std::string CountsText(const google::protobuf::Map<std::string, int64_t>& counts) {
  if (counts.empty()) return "none";
  const std::map<std::string, int64_t> sorted(counts.begin(), counts.end());
  return absl::StrJoin(sorted, " ", absl::PairFormatter("="));
}

}  // namespace

void AddStatsCommand(Cli& cli) {
  CLI::App* stats = WithExamples(
      cli.root().add_subcommand("stats", "Live sessions by node and protocol; signalling load"),
      {"wardenctl stats", "wardenctl stats -o json | jq .liveSessions"});
  cli.OnRun(stats, [](Invocation& in) -> absl::Status {
    WARDEN_ASSIGN_OR_RETURN(AdminClient * admin, in.Admin());
    WARDEN_ASSIGN_OR_RETURN(v1::Stats stats,
                            admin->Call(&v1::AdminService::Stub::GetStats, v1::GetStatsRequest()));
    in.out().Fields(
        stats, {
                   {"live sessions", absl::StrCat(stats.live_sessions())},
                   {"closing", absl::StrCat(stats.closing_sessions())},
                   {"users connected", absl::StrCat(stats.users_with_live_sessions())},
                   {"by node", CountsText(stats.live_sessions_by_node())},
                   {"by protocol", CountsText(stats.live_sessions_by_protocol())},
                   {"signal rooms", absl::StrCat(stats.signal_rooms())},
                   {"signal members", absl::StrCat(stats.signal_members())},
                   {"signal relays/s", absl::StrFormat("%.1f", stats.signal_relays_per_second())},
                   {"signal streams here", absl::StrCat(stats.signal_streams_here())},
               });
    return absl::OkStatus();
  });
}

}  // namespace warden::wardenctl
