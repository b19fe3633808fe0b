// The rules every unary RPC is served by, without a server.

#include "controlplane/services/unary.h"

#include <gtest/gtest.h>

namespace warden::control::services {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

TEST(UnaryTest, CapsTheDeadlineAtTheMaximumCallDuration) {
  struct Case {
    const char* name;
    absl::Time asked;
    absl::Time served;
  } cases[] = {
      {"no deadline", absl::InfiniteFuture(), kNow + kMaxCallDuration},
      {"a later one", kNow + absl::Hours(1), kNow + kMaxCallDuration},
      {"a sooner one", kNow + absl::Seconds(2), kNow + absl::Seconds(2)},
      {"one already past", kNow - absl::Seconds(1), kNow - absl::Seconds(1)},
  };
  for (const Case& c : cases) EXPECT_EQ(CappedDeadline(c.asked, kNow), c.served) << c.name;
}

TEST(UnaryTest, LetsViewersReadAndOnlyAdminsWrite) {
  const Principal admin{.key_name = "ops", .role = model::Role::kAdmin, .key_hash_hex = ""};
  const Principal viewer{.key_name = "grafana", .role = model::Role::kViewer, .key_hash_hex = ""};
  EXPECT_TRUE(CheckRole(Access::kRead, admin).ok());
  EXPECT_TRUE(CheckRole(Access::kWrite, admin).ok());
  EXPECT_TRUE(CheckRole(Access::kRead, viewer).ok());
  const absl::Status refused = CheckRole(Access::kWrite, viewer);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(refused.message(), "API key \"grafana\" has the viewer role and may only read");
}

TEST(UnaryTest, AnswersAFullPoolAsTheCallerExpects) {
  EXPECT_EQ(PoolFull(WhenFull::kResourceExhausted).code(), absl::StatusCode::kResourceExhausted);
  // An agent's Admit: its fail-open/closed rule applies to UNAVAILABLE.
  EXPECT_EQ(PoolFull(WhenFull::kUnavailable).code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace warden::control::services
