#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controlplane/admission/decide.h"

namespace warden::control::admission {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

LiveSession Session(std::string id, std::string node, int age_seconds, bool closing = false) {
  return LiveSession{.id = std::move(id),
                     .node_name = std::move(node),
                     .opened_at = kNow - absl::Seconds(age_seconds),
                     .closing = closing};
}

UserLimits Limit(int max, model::LimitPolicy policy = model::LimitPolicy::kEvictOldest,
                 int grace = 0) {
  return UserLimits{.max_connections = max, .policy = policy, .grace_seconds = grace};
}

TEST(AdmissionDecideTest, AdmitsUnderTheLimit) {
  const LiveSession live[] = {Session("a", "ams-1", 10)};
  Decision decision = Decide(Limit(2), live, false, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, IsEmpty());
}

TEST(AdmissionDecideTest, ZeroMeansUnlimited) {
  std::vector<LiveSession> live;
  for (int i = 0; i < 500; ++i) live.push_back(Session(std::to_string(i), "n", i));
  EXPECT_TRUE(Decide(Limit(0, model::LimitPolicy::kReject), live, false, kNow).admit);
}

TEST(AdmissionDecideTest, EvictsOldestWhenAtLimit) {
  const LiveSession live[] = {Session("mid", "fra-2", 50), Session("old", "ams-1", 100),
                              Session("new", "fra-2", 5)};
  Decision decision = Decide(Limit(3), live, false, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, ElementsAre("old"));
  EXPECT_EQ(decision.kill_due, kNow);
}

TEST(AdmissionDecideTest, EvictsJustEnoughWhenTheLimitWasLowered) {
  const LiveSession live[] = {Session("s1", "n", 40), Session("s2", "n", 30),
                              Session("s3", "n", 20), Session("s4", "n", 10)};
  Decision decision = Decide(Limit(2), live, false, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, ElementsAre("s1", "s2", "s3"));
}

TEST(AdmissionDecideTest, BreaksOpenedAtTiesById) {
  const LiveSession live[] = {Session("b", "n", 10), Session("a", "n", 10)};
  EXPECT_THAT(Decide(Limit(2), live, false, kNow).evict, ElementsAre("a"));
  const LiveSession reversed[] = {Session("a", "n", 10), Session("b", "n", 10)};
  EXPECT_THAT(Decide(Limit(2), reversed, false, kNow).evict, ElementsAre("a"));
}

TEST(AdmissionDecideTest, ClosingSessionsDoNotCount) {
  const LiveSession live[] = {Session("gone", "n", 100, /*closing=*/true), Session("a", "n", 10)};
  Decision decision = Decide(Limit(2), live, false, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, IsEmpty());
  Decision at_limit = Decide(Limit(1), live, false, kNow);
  EXPECT_THAT(at_limit.evict, ElementsAre("a"));
}

TEST(AdmissionDecideTest, GraceDelaysTheKill) {
  const LiveSession live[] = {Session("a", "n", 10)};
  Decision decision = Decide(Limit(1, model::LimitPolicy::kEvictOldest, 30), live, false, kNow);
  EXPECT_TRUE(decision.admit);
  EXPECT_THAT(decision.evict, ElementsAre("a"));
  EXPECT_EQ(decision.kill_due, kNow + absl::Seconds(30));
}

TEST(AdmissionDecideTest, RejectNamesTheLimitAndWhereSessionsLive) {
  const LiveSession live[] = {Session("x", "fra-2", 5), Session("y", "ams-1", 100),
                              Session("z", "fra-2", 50)};
  Decision decision = Decide(Limit(3, model::LimitPolicy::kReject), live, false, kNow);
  EXPECT_FALSE(decision.admit);
  EXPECT_EQ(decision.reason, DenyReason::kDeviceLimitReached);
  EXPECT_EQ(decision.message, "device limit 3 reached: active on nodes ams-1, fra-2, fra-2");
  EXPECT_THAT(decision.evict, IsEmpty());
}

TEST(AdmissionDecideTest, DeniesDisabledUsers) {
  UserLimits limits = Limit(0);
  limits.disabled = true;
  Decision decision = Decide(limits, {}, false, kNow);
  EXPECT_FALSE(decision.admit);
  EXPECT_EQ(decision.reason, DenyReason::kUserDisabled);
}

TEST(AdmissionDecideTest, DrainingNodeAdmitsNoOne) {
  Decision decision = Decide(Limit(0), {}, /*node_draining=*/true, kNow);
  EXPECT_FALSE(decision.admit);
  EXPECT_EQ(decision.reason, DenyReason::kNodeDraining);
}

}  // namespace
}  // namespace warden::control::admission
