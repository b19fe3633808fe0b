// The refresh rule and the sealed results it relies on, without a database.

#include "controlplane/families/refresh_rule.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include "controlplane/families/sealed_result.h"

namespace warden::control::families {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1795415224);
const absl::Duration kGrace = absl::Seconds(5);

PresentedToken LiveToken() {
  PresentedToken token;
  token.found = true;
  token.family_live = true;
  return token;
}

TEST(RefreshRuleTest, UnknownTokensAndDeadFamiliesAreMissing) {
  EXPECT_EQ(DecideRefresh(PresentedToken{}, kNow, kGrace).verdict, RefreshVerdict::kSessionMissing);
  PresentedToken revoked = LiveToken();
  revoked.family_live = false;
  revoked.spent = true;  // even a replay of a dead family's token: nothing left to revoke
  EXPECT_EQ(DecideRefresh(revoked, kNow, kGrace).verdict, RefreshVerdict::kSessionMissing);
}

TEST(RefreshRuleTest, AHeldLeaseIsBusyUntilItEnds) {
  PresentedToken leased = LiveToken();
  leased.lease_until = kNow + absl::Milliseconds(1500);
  RefreshDecision decision = DecideRefresh(leased, kNow, kGrace);
  EXPECT_EQ(decision.verdict, RefreshVerdict::kLeaseBusy);
  EXPECT_EQ(decision.retry_after, absl::Milliseconds(1500));
  leased.lease_until = kNow;  // ran out between the two reads
  EXPECT_EQ(DecideRefresh(leased, kNow, kGrace).retry_after, absl::Milliseconds(50));
}

TEST(RefreshRuleTest, TheSameRequestRecoversItsResultUntilTheSuccessorIsUsed) {
  PresentedToken spent = LiveToken();
  spent.spent = true;
  spent.rotated_at = kNow - absl::Hours(1);
  spent.same_request = true;
  spent.has_sealed_result = true;
  EXPECT_EQ(DecideRefresh(spent, kNow, kGrace).verdict, RefreshVerdict::kRecover);
  spent.has_sealed_result = false;
  EXPECT_EQ(DecideRefresh(spent, kNow, kGrace).verdict, RefreshVerdict::kReplay);
  spent.rotated_at = kNow - absl::Seconds(1);  // a late duplicate of the winner
  EXPECT_EQ(DecideRefresh(spent, kNow, kGrace).verdict, RefreshVerdict::kJustRotated);
}

TEST(RefreshRuleTest, AnotherRequestIsToldOffWithinTheGraceAndAReplayAfter) {
  PresentedToken spent = LiveToken();
  spent.spent = true;
  spent.has_sealed_result = true;  // someone else's
  spent.rotated_at = kNow - absl::Seconds(2);
  EXPECT_EQ(DecideRefresh(spent, kNow, kGrace).verdict, RefreshVerdict::kJustRotated);
  spent.rotated_at = kNow - kGrace;
  EXPECT_EQ(DecideRefresh(spent, kNow, kGrace).verdict, RefreshVerdict::kReplay);
}

TEST(SealedResultTest, OpensOnlyForTheSameTokenAndRequest) {
  ASSERT_GE(sodium_init(), 0);
  const std::string token = "wrt_" + std::string(64, 'a');
  const std::string sealed = SealResult("fresh tokens", token, "request-0001");
  EXPECT_EQ(sealed.find("fresh tokens"), std::string::npos);
  absl::StatusOr<std::string> opened = OpenResult(sealed, token, "request-0001");
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, "fresh tokens");
  EXPECT_FALSE(OpenResult(sealed, token, "request-0002").ok());
  EXPECT_FALSE(OpenResult(sealed, "wrt_" + std::string(64, 'b'), "request-0001").ok());
  std::string tampered = sealed;
  tampered.back() ^= 1;
  EXPECT_FALSE(OpenResult(tampered, token, "request-0001").ok());
  EXPECT_FALSE(OpenResult("short", token, "request-0001").ok());
  EXPECT_NE(SealResult("fresh tokens", token, "request-0001"), sealed) << "a fresh nonce each time";
}

}  // namespace
}  // namespace warden::control::families
