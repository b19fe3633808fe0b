// Connect tickets at fleet scale, through gRPC on a real PostgreSQL: issuing
// is serialised per user (the per-user cap stays exact under concurrency),
// not fleet-wide, and the fleet-wide cap scales with the fleet.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/agent_helpers.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/wait.h"
#include "warden/v1/session.grpc.pb.h"

namespace warden::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kPassword[] = "correct horse battery";

class FamilyTicketsTest : public ControlPlaneTest {
 protected:
  void ConfigureControlPlane(control::ControlPlaneConfig& config) override {
    // Many logins from one test process.
    config.login_rate_per_username = 0;
    config.login_rate_per_address = 0;
    config.db_pool_size = 8;
    ConfigureTickets(config);
  }
  virtual void ConfigureTickets(control::ControlPlaneConfig& config) { (void)config; }

  void SetUp() override {
    ControlPlaneTest::SetUp();
    fleet_ = std::make_unique<FleetClient>(Channel(), kTestAdminKey);
    session_ = v1::SessionService::NewStub(Channel());
  }

  // A user with a login; its access token.
  std::string UserWithLogin(const std::string& username) {
    fleet_->CreateUser(username, 5, v1::EVICT_OLDEST, 0, kPassword);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
    v1::LoginRequest request;
    request.set_username(username);
    request.set_password(kPassword);
    v1::LoginResponse response;
    grpc::Status status = session_->Login(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.access_token();
  }

  grpc::Status Issue(const std::string& access_token, absl::Duration deadline = absl::Seconds(20)) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    v1::IssueConnectTicketRequest request;
    request.set_access_token(access_token);
    v1::IssueConnectTicketResponse response;
    return session_->IssueConnectTicket(&context, request, &response);
  }

  int64_t Count(const std::string& sql) {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    return tx.exec1(sql)[0].as<int64_t>();
  }

  std::unique_ptr<FleetClient> fleet_;
  std::unique_ptr<v1::SessionService::Stub> session_;
};

TEST_F(FamilyTicketsTest, ThePerUserCapHoldsUnderFiftyConcurrentIssues) {
  const std::string alice = UserWithLogin("alice");
  std::atomic<int> issued{0}, refused{0}, other{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 50; ++i) {
    callers.emplace_back([&] {
      grpc::Status status = Issue(alice);
      if (status.ok()) {
        ++issued;
      } else if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
                 status.error_message().find("10 unused connect tickets") != std::string::npos) {
        ++refused;
      } else {
        ++other;
        ADD_FAILURE() << status.error_code() << ": " << status.error_message();
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(issued.load(), 10);
  EXPECT_EQ(refused.load(), 40);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM tickets WHERE kind = 'connect'"), 10);
}

TEST_F(FamilyTicketsTest, FifteenHundredTicketsForManyUsersIssue) {
  constexpr int kUsers = 150;
  std::vector<std::string> tokens;
  for (int i = 0; i < kUsers; ++i) tokens.push_back(UserWithLogin(absl::StrCat("user", i)));
  std::atomic<int> failed{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t) {
    callers.emplace_back([&, t] {
      for (int i = t; i < kUsers; i += 8) {
        for (int n = 0; n < 10; ++n) {
          grpc::Status status = Issue(tokens[i]);
          if (!status.ok()) {
            ++failed;
            ADD_FAILURE() << "user" << i << ": " << status.error_message();
          }
        }
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM tickets WHERE kind = 'connect' AND used_at IS NULL"),
            kUsers * 10);
}

TEST_F(FamilyTicketsTest, OneUsersStuckIssueDoesNotHoldUpAnother) {
  const std::string alice = UserWithLogin("alice");
  const std::string bob = UserWithLogin("bob");
  // A long transaction holds alice's row (as a slow admission of hers would);
  // her ticket waits for it.
  pqxx::connection blocker(db_->url());
  pqxx::work hold(blocker);
  hold.exec("SELECT 1 FROM users WHERE username = 'alice' FOR UPDATE");
  auto alice_issue = std::async(std::launch::async, [&] { return Issue(alice); });
  ASSERT_TRUE(WaitFor([&] {
    return Count(
               "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO tickets%'") == 1;
  })) << "alice's issue never waited";
  // Bob's ticket does not queue behind hers.
  grpc::Status status = Issue(bob, absl::Seconds(3));
  EXPECT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  hold.abort();
  EXPECT_TRUE(alice_issue.get().ok());
}

class FleetTicketCapTest : public FamilyTicketsTest {
 protected:
  void ConfigureTickets(control::ControlPlaneConfig& config) override {
    config.max_outstanding_connect_tickets = 12;
  }
};

TEST_F(FleetTicketCapTest, TheFleetWideCapIsConfigurable) {
  const std::string alice = UserWithLogin("alice");
  const std::string bob = UserWithLogin("bob");
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Issue(alice).ok()) << i;
  ASSERT_TRUE(Issue(bob).ok());
  ASSERT_TRUE(Issue(bob).ok());
  grpc::Status refused = Issue(bob);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("12 connect tickets are outstanding"));
}

}  // namespace
}  // namespace warden::testing
