// PostgreSQL stopped and started under a running control plane: calls fail
// fast with UNAVAILABLE, health follows the database, service resumes by
// itself, nothing is lost. The HTTP probes (/healthz, /readyz) say the same.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using grpc::health::v1::HealthCheckResponse;

class DatabaseOutageTest : public ControlPlaneTest {
 protected:
  void SetUp() override {
    cluster_ = TestPostgres::StartPrivate();
    db_ = cluster_->CreateDatabase();
    control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
    config.metrics_listen = "127.0.0.1:0";
    StartControlPlane(config);
  }
  void TearDown() override {
    ControlPlaneTest::TearDown();
    cluster_.reset();
  }

  grpc::Status CreateUser(const std::string& name) {
    v1::CreateUserRequest request;
    request.mutable_user()->set_username(name);
    v1::User out;
    return Admin()->CreateUser(Context().get(), request, &out);
  }

  std::unique_ptr<TestPostgres> cluster_;
};

TEST_F(DatabaseOutageTest, FailsFastWhileDownAndRecoversWithoutRestart) {
  ASSERT_TRUE(CreateUser("before").ok());
  ASSERT_EQ(HealthStatus(), HealthCheckResponse::SERVING);
  const int probes = control_->metrics_port();
  EXPECT_EQ(ProbeStatus(probes, "/readyz"), 200);

  // Calls keep flowing through the outage; none may hang or crash the server.
  std::atomic<bool> stop{false};
  std::atomic<int> unavailable{0};
  std::atomic<int> other_errors{0};
  std::thread load([&] {
    while (!stop.load()) {
      auto context = Context();
      context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
      v1::ListUsersResponse response;
      grpc::Status status = Admin()->ListUsers(context.get(), v1::ListUsersRequest(), &response);
      if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
        unavailable.fetch_add(1);
      } else if (!status.ok()) {
        other_errors.fetch_add(1);
      }
    }
  });

  cluster_->Stop();
  EXPECT_TRUE(WaitFor([&] { return HealthStatus() == HealthCheckResponse::NOT_SERVING; }));
  // Unready, yet alive: a liveness probe must not restart every replica.
  EXPECT_EQ(HealthStatus("liveness"), HealthCheckResponse::SERVING);
  // The same over HTTP, for probes that cannot speak TLS to the gRPC port.
  EXPECT_EQ(ProbeStatus(probes, "/readyz"), 503);
  EXPECT_EQ(ProbeStatus(probes, "/healthz"), 200);
  const absl::Time start = absl::Now();
  grpc::Status during = CreateUser("during");
  EXPECT_EQ(during.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(during.error_message(), ::testing::HasSubstr("unavailable"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4)) << "must fail fast, not hang";

  cluster_->Start();
  EXPECT_TRUE(WaitFor([&] { return HealthStatus() == HealthCheckResponse::SERVING; }));
  EXPECT_TRUE(WaitFor([&] { return ProbeStatus(probes, "/readyz") == 200; }));
  EXPECT_TRUE(WaitFor([&] { return CreateUser("after").ok(); }));
  stop.store(true);
  load.join();
  EXPECT_GT(unavailable.load(), 0);
  EXPECT_EQ(other_errors.load(), 0);

  v1::ListUsersResponse users;
  ASSERT_TRUE(Admin()->ListUsers(Context().get(), v1::ListUsersRequest(), &users).ok());
  std::vector<std::string> names;
  for (const auto& user : users.users()) names.push_back(user.username());
  EXPECT_THAT(names, ::testing::ElementsAre("after", "before"));
}

}  // namespace
}  // namespace warden::testing
