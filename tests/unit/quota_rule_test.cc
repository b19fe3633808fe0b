#include "controlplane/usage/quota_rule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace warden::control::usage {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

model::QuotaStanding Standing(int64_t used, int64_t quota, int notified = 0, bool held = false,
                              int64_t granted = 0) {
  return model::QuotaStanding{.user_id = "u",
                              .quota_bytes = quota,
                              .granted_bytes = granted,
                              .used_bytes = used,
                              .window_start = absl::CivilDay(2026, 12, 1),
                              .notified_percent = notified,
                              .held = held,
                              .period_days = 0,
                              .action = model::QuotaAction::kDeny};
}

TEST(QuotaRuleTest, LevelsAreZeroEightyAndHundred) {
  EXPECT_EQ(QuotaLevel(0, 1000), 0);
  EXPECT_EQ(QuotaLevel(799, 1000), 0);
  EXPECT_EQ(QuotaLevel(800, 1000), 80);
  EXPECT_EQ(QuotaLevel(999, 1000), 80);
  EXPECT_EQ(QuotaLevel(1000, 1000), 100);
  EXPECT_EQ(QuotaLevel(5000, 1000), 100);
  EXPECT_EQ(QuotaLevel(5000, 0), 0) << "no quota, no level";
}

TEST(QuotaRuleTest, LevelsDoNotOverflowNearTheLargestQuota) {
  const int64_t huge = INT64_MAX - 10;
  EXPECT_EQ(QuotaLevel(huge / 10 * 9, huge), 80);
  EXPECT_EQ(QuotaLevel(huge / 2, huge), 0);
}

TEST(QuotaRuleTest, BelowEightyPercentNothingHappens) {
  const model::QuotaStanding standing = Standing(500, 1000);
  const model::QuotaVerdict verdict = JudgeQuota(standing);
  EXPECT_THAT(verdict.announce, IsEmpty());
  EXPECT_FALSE(verdict.hold);
  EXPECT_FALSE(verdict.Changes(standing));
}

TEST(QuotaRuleTest, EightyPercentIsAnnouncedOnce) {
  model::QuotaStanding standing = Standing(850, 1000);
  model::QuotaVerdict verdict = JudgeQuota(standing);
  EXPECT_THAT(verdict.announce, ElementsAre(80));
  EXPECT_FALSE(verdict.hold);
  EXPECT_TRUE(verdict.Changes(standing));
  standing.notified_percent = verdict.notified_percent;
  standing.used_bytes = 900;
  verdict = JudgeQuota(standing);
  EXPECT_THAT(verdict.announce, IsEmpty());
  EXPECT_FALSE(verdict.Changes(standing));
}

TEST(QuotaRuleTest, JumpingPastTheQuotaAnnouncesBothThresholdsAndHolds) {
  const model::QuotaVerdict verdict = JudgeQuota(Standing(1200, 1000));
  EXPECT_THAT(verdict.announce, ElementsAre(80, 100));
  EXPECT_TRUE(verdict.hold);
  EXPECT_EQ(verdict.notified_percent, 100);
}

TEST(QuotaRuleTest, AHeldUserIsNotHeldAgain) {
  const model::QuotaStanding standing = Standing(1500, 1000, 100, /*held=*/true);
  const model::QuotaVerdict verdict = JudgeQuota(standing);
  EXPECT_FALSE(verdict.hold);
  EXPECT_FALSE(verdict.release);
  EXPECT_FALSE(verdict.Changes(standing));
}

TEST(QuotaRuleTest, AGrantReleasesAHeldUser) {
  const model::QuotaStanding standing =
      Standing(1500, 1000, 100, /*held=*/true, /*granted=*/1000);
  const model::QuotaVerdict verdict = JudgeQuota(standing);
  EXPECT_TRUE(verdict.release);
  EXPECT_EQ(verdict.notified_percent, 0) << "1500 of 2000 is below 80 %";
  EXPECT_THAT(verdict.announce, IsEmpty());
}

TEST(QuotaRuleTest, ANewWindowReleasesAndTheNextClimbIsAnnouncedAgain) {
  model::QuotaStanding standing = Standing(0, 1000, 100, /*held=*/true);
  model::QuotaVerdict verdict = JudgeQuota(standing);
  EXPECT_TRUE(verdict.release);
  EXPECT_EQ(verdict.notified_percent, 0);
  standing = Standing(900, 1000, verdict.notified_percent);
  EXPECT_THAT(JudgeQuota(standing).announce, ElementsAre(80));
}

TEST(QuotaRuleTest, RemovingTheQuotaReleasesTheUser) {
  const model::QuotaStanding standing = Standing(5000, 0, 100, /*held=*/true);
  const model::QuotaVerdict verdict = JudgeQuota(standing);
  EXPECT_TRUE(verdict.release);
  EXPECT_EQ(verdict.notified_percent, 0);
}

}  // namespace
}  // namespace warden::control::usage
