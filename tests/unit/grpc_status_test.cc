#include "common/grpc_status.h"

#include <gtest/gtest.h>

namespace warden {
namespace {

TEST(GrpcStatusTest, KeepsCodeAndMessageBothWays) {
  const absl::Status cases[] = {
      absl::InvalidArgumentError("user.username must be 1-64 characters"),
      absl::NotFoundError("user 1 not found"),
      absl::AlreadyExistsError("username \"a\" is already taken"),
      absl::FailedPreconditionError("live sessions"),
      absl::ResourceExhaustedError("busy"),
      absl::UnauthenticatedError("invalid or revoked API key"),
      absl::PermissionDeniedError("viewer"),
      absl::UnavailableError("database"),
      absl::AbortedError("retry"),
      absl::DeadlineExceededError("slow"),
      absl::InternalError("internal"),
  };
  for (const absl::Status& status : cases) {
    const grpc::Status wire = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(wire.error_code()), static_cast<int>(status.code()));
    EXPECT_EQ(wire.error_message(), status.message());
    EXPECT_EQ(FromGrpcStatus(wire), status);
  }
}

TEST(GrpcStatusTest, MapsOkToOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

}  // namespace
}  // namespace warden
