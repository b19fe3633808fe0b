#include "tools/wardenctl/exit_codes.h"

#include <gtest/gtest.h>

namespace warden::wardenctl {
namespace {

TEST(ExitCodesTest, GivesEachClassOfFailureItsCode) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("")), kExitUsage);
  EXPECT_EQ(ExitCodeFor(absl::NotFoundError("")), kExitNotFound);
  EXPECT_EQ(ExitCodeFor(absl::PermissionDeniedError("")), kExitPermission);
  EXPECT_EQ(ExitCodeFor(absl::UnauthenticatedError("")), kExitPermission);
  EXPECT_EQ(ExitCodeFor(absl::UnavailableError("")), kExitUnavailable);
  EXPECT_EQ(ExitCodeFor(absl::AlreadyExistsError("")), kExitConflict);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("")), kExitConflict);
  EXPECT_EQ(ExitCodeFor(absl::ResourceExhaustedError("")), kExitExhausted);
  EXPECT_EQ(ExitCodeFor(absl::DeadlineExceededError("")), kExitTimeout);
  EXPECT_EQ(ExitCodeFor(absl::UnimplementedError("")), kExitUnsupported);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("")), kExitFailure);
  EXPECT_EQ(kExitUsage, 2);
  EXPECT_EQ(kExitNotFound, 3);
  EXPECT_EQ(kExitPermission, 4);
  EXPECT_EQ(kExitUnavailable, 5);
}

TEST(ExitCodesTest, SaysWhatToCheckNext) {
  EXPECT_EQ(DescribeError(absl::UnavailableError("failed to connect to all addresses"), "h:1"),
            "cannot reach the control plane at h:1: failed to connect to all addresses\n"
            "  Is warden-control running there? A plaintext server needs --insecure; a private "
            "CA needs --ca (or WARDEN_CA).");
  EXPECT_EQ(DescribeError(absl::UnavailableError("the database is unreachable"), "h:1"),
            "the control plane at h:1 is unavailable: the database is unreachable");
  EXPECT_EQ(DescribeError(absl::NotFoundError("no user \"bob\""), "h:1"),
            "not found: no user \"bob\"");
  EXPECT_EQ(DescribeError(absl::PermissionDeniedError("viewer"), "h:1"),
            "not allowed: viewer\n  This needs a key with role ADMIN.");
}

TEST(ExitCodesTest, ShowsLocalErrorsAsTheyAre) {
  const absl::Status status = LocalError(absl::StatusCode::kUnauthenticated, "no API key");
  EXPECT_EQ(DescribeError(status, "h:1"), "no API key");
  EXPECT_EQ(ExitCodeFor(status), kExitPermission);
}

}  // namespace
}  // namespace warden::wardenctl
