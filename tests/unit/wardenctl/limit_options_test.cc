#include "tools/wardenctl/commands/limit_options.h"

#include <gtest/gtest.h>

#include "tools/wardenctl/views.h"

namespace warden::wardenctl {
namespace {

// Parses a command line of limit flags the way `users update` and
// `plans update` do.
absl::Status ApplyFlags(std::vector<std::string> args, v1::Plan& plan,
                        std::vector<std::string>& paths) {
  Cli cli([](const std::string&) { return std::optional<std::string>(); });
  CLI::App* command = cli.root().add_subcommand("try");
  LimitOptions limits;
  limits.AddOptions(cli, command);
  args.insert(args.begin(), {"wardenctl", "try"});
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  cli.root().parse(static_cast<int>(argv.size()), argv.data());
  return limits.Apply(plan, paths);
}

TEST(LimitOptionsTest, FillsOnlyTheLimitsGivenAndNamesThemInTheMask) {
  v1::Plan plan;
  std::vector<std::string> paths;
  ASSERT_TRUE(
      ApplyFlags({"--max-connections", "3", "--quota", "50GiB", "--protocols", "wireguard,quic",
                  "--label-cap", "region=1", "--node-selector", "tier=premium|standard",
                  "--idle-timeout", "30m", "--on-quota", "throttle", "--clear", "bandwidth"},
                 plan, paths)
          .ok());
  EXPECT_EQ(plan.max_connections(), 3);
  EXPECT_EQ(plan.data_quota_bytes(), int64_t{50} << 30);
  ASSERT_EQ(plan.allowed_protocols().protocols_size(), 2);
  EXPECT_EQ(plan.allowed_protocols().protocols(1), v1::QUIC);
  ASSERT_EQ(plan.label_caps().caps_size(), 1);
  EXPECT_EQ(plan.label_caps().caps(0).label(), "region");
  EXPECT_EQ(plan.label_caps().caps(0).max(), 1);
  EXPECT_EQ(plan.node_selector().match().at("tier").values_size(), 2);
  EXPECT_EQ(plan.idle_timeout_seconds(), 1800);
  EXPECT_EQ(plan.on_quota_exceeded(), v1::QUOTA_THROTTLE);
  EXPECT_FALSE(plan.has_bandwidth_bytes_per_second()) << "--clear sends the path unset";
  EXPECT_FALSE(plan.has_grace_seconds());
  EXPECT_EQ(paths,
            (std::vector<std::string>{"max_connections", "label_caps", "allowed_protocols",
                                      "node_selector", "idle_timeout_seconds", "data_quota_bytes",
                                      "on_quota_exceeded", "bandwidth_bytes_per_second"}));
}

TEST(LimitOptionsTest, RefusesMalformedValuesBeforeAskingTheServer) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--label-cap", "region"},
           {"--label-cap", "=2"},
           {"--node-selector", "tier="},
           {"--on-quota", "shrug"},
           {"--protocols", "ipsec"},
           {"--quota", "lots"},
           {"--clear", "colour"},
           {"--max-connections", "2", "--clear", "max-connections"},
       }) {
    v1::Plan plan;
    std::vector<std::string> paths;
    absl::Status status;
    try {
      status = ApplyFlags(args, plan, paths);
    } catch (const CLI::ParseError&) {
      continue;  // refused by the parser itself, as a usage error
    }
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << args[0] << " " << args[1];
  }
}

TEST(LimitOptionsTest, ShowsNodeLabelsSortedByKey) {
  v1::Node node;
  EXPECT_EQ(LabelsText(node), "none");
  (*node.mutable_labels())["tier"] = "premium";
  (*node.mutable_labels())["region"] = "eu-west";
  EXPECT_EQ(LabelsText(node), "region=eu-west,tier=premium");
}

}  // namespace
}  // namespace warden::wardenctl
