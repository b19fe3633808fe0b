// PostgreSQL stopped and started under a running control plane: calls wait
// for it within their deadline and then fail UNAVAILABLE (never hang past
// it), a brief outage is ridden out, health follows the database, service
// resumes by itself, nothing is lost. The HTTP probes (/healthz, /readyz)
// say the same.

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

  grpc::Status CreateUser(const std::string& name, absl::Duration deadline = absl::Seconds(10)) {
    v1::CreateUserRequest request;
    request.mutable_user()->set_username(name);
    v1::User out;
    auto context = Context();
    context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    return Admin()->CreateUser(context.get(), request, &out);
  }

  std::unique_ptr<TestPostgres> cluster_;
};

TEST_F(DatabaseOutageTest, FailsBeforeTheDeadlineWhileDownAndRecoversWithoutRestart) {
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
      context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
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
  // A call waits for the database while its caller does, then answers
  // UNAVAILABLE before its deadline rather than DEADLINE_EXCEEDED after it.
  const absl::Time start = absl::Now();
  grpc::Status during = CreateUser("during", absl::Seconds(3));
  EXPECT_EQ(during.error_code(), grpc::StatusCode::UNAVAILABLE) << during.error_message();
  EXPECT_THAT(during.error_message(), ::testing::HasSubstr("unavailable"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3)) << "must answer before its deadline";
  EXPECT_GT(absl::Now() - start, absl::Seconds(2)) << "gave up on the database too early";

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

// A failover seen from a caller: the database is gone for two seconds and
// calls made meanwhile succeed once it is back, each exactly once.
TEST_F(DatabaseOutageTest, ACallMadeDuringABriefOutageSucceedsWhenTheDatabaseReturns) {
  ASSERT_TRUE(CreateUser("before").ok());
  cluster_->Stop();
  EXPECT_TRUE(WaitFor([&] { return HealthStatus() == HealthCheckResponse::NOT_SERVING; }));
  std::thread back([&] {
    absl::SleepFor(absl::Seconds(2));
    cluster_->Start();
  });
  const absl::Time start = absl::Now();
  const grpc::Status created = CreateUser("during", absl::Seconds(20));
  v1::ListUsersResponse users;
  auto context = Context();
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  const grpc::Status listed = Admin()->ListUsers(context.get(), v1::ListUsersRequest(), &users);
  back.join();
  ASSERT_TRUE(created.ok()) << created.error_message();
  ASSERT_TRUE(listed.ok()) << listed.error_message();
  EXPECT_GE(absl::Now() - start, absl::Seconds(2));
  std::vector<std::string> names;
  for (const auto& user : users.users()) names.push_back(user.username());
  EXPECT_THAT(names, ::testing::ElementsAre("before", "during"));
  absl::StatusOr<PrometheusText> metrics = ScrapeMetrics(control_->metrics_port());
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_GT(metrics->Value("warden_db_failover_retries_total", {{"pool", "primary"}}), 0);
}

}  // namespace
}  // namespace warden::testing
