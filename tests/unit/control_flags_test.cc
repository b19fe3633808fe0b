#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "controlplane/flags.h"

namespace warden::control {
namespace {

// Parses `args` as warden-control's command line into a fresh config.
struct Parsed {
  ControlPlaneConfig config;
  LogFlags log;
  std::string error;
};

Parsed Parse(std::vector<std::string> args) {
  Parsed parsed;
  CLI::App app{"warden-control"};
  AddControlFlags(app, parsed.config, parsed.log);
  std::reverse(args.begin(), args.end());  // CLI11 takes them last first
  try {
    app.parse(args);
  } catch (const CLI::ParseError& error) {
    parsed.error = error.what();
  }
  return parsed;
}

TEST(ControlFlagsTest, LeavesTheConfigsDefaultsWhenNothingIsGiven) {
  const Parsed parsed = Parse({});
  const ControlPlaneConfig defaults;
  ASSERT_EQ(parsed.error, "");
  EXPECT_EQ(parsed.config.db_acquire_timeout, defaults.db_acquire_timeout);
  EXPECT_EQ(parsed.config.family_lifetime, defaults.family_lifetime);
  EXPECT_EQ(parsed.config.audit_retention, defaults.audit_retention);
  EXPECT_EQ(parsed.config.password_cost.mem_limit_bytes, defaults.password_cost.mem_limit_bytes);
  EXPECT_EQ(parsed.log.level, "info");
}

TEST(ControlFlagsTest, GivesEachDurationInTheUnitItsNameSays) {
  const Parsed parsed = Parse({"--db-acquire-timeout-ms", "250", "--heartbeat-seconds", "3",
                               "--family-idle-hours", "2", "--audit-retention-days", "7",
                               "--argon2-memory-kib", "8192", "--log-format", "json"});
  ASSERT_EQ(parsed.error, "");
  EXPECT_EQ(parsed.config.db_acquire_timeout, absl::Milliseconds(250));
  EXPECT_EQ(parsed.config.heartbeat_interval, absl::Seconds(3));
  EXPECT_EQ(parsed.config.family_idle_timeout, absl::Hours(2));
  EXPECT_EQ(parsed.config.audit_retention, absl::Hours(24 * 7));
  EXPECT_EQ(parsed.config.password_cost.mem_limit_bytes, uint64_t{8192} * 1024);
  EXPECT_EQ(parsed.log.format, "json");
}

TEST(ControlFlagsTest, RefusesADurationOutsideItsRangeAndNamesTheFlag) {
  const Parsed parsed = Parse({"--access-token-seconds", "5"});
  EXPECT_NE(parsed.error.find("--access-token-seconds"), std::string::npos) << parsed.error;
}

TEST(ControlFlagsTest, ShowsEachDurationsDefaultInItsUnit) {
  Parsed parsed;
  CLI::App app{"warden-control"};
  AddControlFlags(app, parsed.config, parsed.log);
  const std::string help = app.help();
  EXPECT_NE(help.find("--family-lifetime-hours INT:INT in [1 - 8784]=720"), std::string::npos)
      << help;
  EXPECT_NE(help.find("--db-acquire-timeout-ms INT:INT in [1 - 600000]=2000"), std::string::npos)
      << help;
}

}  // namespace
}  // namespace warden::control
