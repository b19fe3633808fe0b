// The refresh workflow's decisions, without a database.

#include "controlplane/families/refresh.h"

#include <gtest/gtest.h>
#include <sodium.h>

namespace warden::control::families {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
const std::string kToken = "wrt_" + std::string(64, 'a');
const std::string kRequest = "0123456789abcdef0123456789abcdef";

class RefreshTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(RefreshTest, AnswersEachVerdictThatNeedsNoMoreWork) {
  struct Case {
    const char* name;
    RefreshDecision decision;
    bool answered;
    RefreshOutcome outcome;
    absl::StatusCode code;
    std::optional<int64_t> retry_after_ms;
  } cases[] = {
      {"missing",
       {RefreshVerdict::kSessionMissing},
       true,
       RefreshOutcome::kSessionMissing,
       absl::StatusCode::kUnauthenticated,
       std::nullopt},
      {"busy",
       {RefreshVerdict::kLeaseBusy, absl::Microseconds(1500)},
       true,
       RefreshOutcome::kLeaseUnavailable,
       absl::StatusCode::kAborted,
       2},
      {"just rotated",
       {RefreshVerdict::kJustRotated},
       true,
       RefreshOutcome::kLeaseUnavailable,
       absl::StatusCode::kAborted,
       std::nullopt},
      {"recover", {RefreshVerdict::kRecover}, false, {}, {}, std::nullopt},
      {"replay", {RefreshVerdict::kReplay}, false, {}, {}, std::nullopt},
  };
  for (const Case& c : cases) {
    std::optional<RefreshAnswer> answer = AnswerWithoutWork(c.decision);
    ASSERT_EQ(answer.has_value(), c.answered) << c.name;
    if (!answer) continue;
    EXPECT_EQ(answer->outcome, c.outcome) << c.name;
    EXPECT_EQ(answer->status.code(), c.code) << c.name;
    EXPECT_EQ(answer->retry_after_ms, c.retry_after_ms) << c.name;
  }
  EXPECT_EQ(LeaseBusy(absl::Milliseconds(1500)).status.message(),
            "LEASE_UNAVAILABLE: another refresh of this token is in progress; retry in 1500 ms "
            "with the same request_id");
  EXPECT_NE(
      AnswerWithoutWork({RefreshVerdict::kJustRotated})->status.message().find("do not retry"),
      absl::string_view::npos);
}

TEST_F(RefreshTest, AnswersARotationTheStoreRefused) {
  const absl::Duration lease = absl::Seconds(5);
  absl::StatusOr<RefreshAnswer> ran_out =
      AnswerToFailedRotation(absl::AbortedError("lease ran out"), lease);
  ASSERT_TRUE(ran_out.ok());
  EXPECT_EQ(ran_out->outcome, RefreshOutcome::kLeaseUnavailable);
  EXPECT_EQ(ran_out->retry_after_ms, 5000);
  absl::StatusOr<RefreshAnswer> revoked =
      AnswerToFailedRotation(absl::FailedPreconditionError("revoked"), lease);
  ASSERT_TRUE(revoked.ok());
  EXPECT_EQ(revoked->outcome, RefreshOutcome::kSessionMissing);
  EXPECT_EQ(revoked->status.message(), SessionMissing().status.message());
  // A fault is the caller's error, not an outcome.
  EXPECT_EQ(AnswerToFailedRotation(absl::UnavailableError("database"), lease).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(RefreshTest, RetriesARevocationOnlyWhileItLosesDeadlocks) {
  EXPECT_TRUE(RetryRevocation(absl::AbortedError("deadlock"), 1));
  EXPECT_TRUE(RetryRevocation(absl::AbortedError("deadlock"), 2));
  EXPECT_FALSE(RetryRevocation(absl::AbortedError("deadlock"), 3));
  EXPECT_FALSE(RetryRevocation(absl::FailedPreconditionError("revoked already"), 1));
  EXPECT_FALSE(RetryRevocation(absl::UnavailableError("database"), 1));
  EXPECT_EQ(TokenMismatch().outcome, RefreshOutcome::kTokenMismatch);
  EXPECT_EQ(TokenMismatch().status.code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(RefreshTest, RecoversASealedRotationOnlyForItsOwnRequest) {
  const RotatedLogin login{.access_token = "wat_x",
                           .refresh_token = "wrt_y",
                           .family_id = "f",
                           .access_expires_at = kNow + absl::Minutes(15),
                           .recovered = false};
  const std::string sealed = SealRotation(login, kToken, kRequest);
  std::optional<RotatedLogin> opened = OpenRotation(sealed, kToken, kRequest);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->access_token, "wat_x");
  EXPECT_EQ(opened->refresh_token, "wrt_y");
  EXPECT_EQ(opened->access_expires_at, login.access_expires_at);
  EXPECT_TRUE(opened->recovered);
  EXPECT_EQ(opened->family_id, "");  // the lease's to fill in
  EXPECT_FALSE(OpenRotation(sealed, kToken, "another-request-0123456789abcdef").has_value());
  EXPECT_FALSE(OpenRotation("", kToken, kRequest).has_value());
}

}  // namespace
}  // namespace warden::control::families
