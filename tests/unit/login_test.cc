// What a checked password gives a SessionService login, without a database.

#include "controlplane/families/login.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/support/fake_clock.h"

namespace warden::control::families {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

admission::PasswordCheckResult Checked(bool exists, bool verified, bool disabled) {
  admission::PasswordCheckResult checked;
  if (exists) {
    checked.user = model::User{};
    checked.user->id = "u-1";
    checked.user->username = "alice";
    checked.user->disabled = disabled;
  }
  checked.verified = verified;
  return checked;
}

TEST(LoginTest, GivesTheUserOfAVerifiedPasswordUnlessDisabled) {
  struct Case {
    const char* name;
    admission::PasswordCheckResult checked;
    absl::StatusCode code;
    const char* message;
    bool token_back;  // the username's throttle token is returned
  } cases[] = {
      {"unknown user", Checked(false, false, false), absl::StatusCode::kUnauthenticated,
       "unknown user or wrong password", false},
      {"wrong password", Checked(true, false, false), absl::StatusCode::kUnauthenticated,
       "unknown user or wrong password", false},
      {"disabled", Checked(true, true, true), absl::StatusCode::kPermissionDenied,
       "user alice is disabled", true},
      {"right password", Checked(true, true, false), absl::StatusCode::kOk, "", true},
  };
  for (const Case& c : cases) {
    warden::testing::FakeClock clock(kNow);
    LoginThrottle throttle(LoginThrottleOptions{}, clock);
    // alice's five tokens are spent, the last by this attempt.
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(throttle.Attempt("alice", absl::StrCat("10.0.0.", i)).allowed);
    absl::StatusOr<std::string> user = LoginUser(c.checked, throttle, "alice");
    EXPECT_EQ(user.status().code(), c.code) << c.name;
    if (user.ok()) {
      EXPECT_EQ(*user, "u-1") << c.name;
    } else {
      EXPECT_EQ(user.status().message(), c.message) << c.name;
    }
    EXPECT_EQ(throttle.Attempt("alice", "10.0.0.9").allowed, c.token_back) << c.name;
  }
}

}  // namespace
}  // namespace warden::control::families
