// A server that hangs (SIGSTOPped: its kernel still acknowledges every
// packet, so keepalives and tcp_user_timeout see nothing wrong) must not hold
// a call forever. Past the statement timeout the server would have cancelled
// it, so Database::AbandonHungCalls ends it with UNAVAILABLE, and the pool
// serves from new connections once a server answers again.

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <thread>

#include "controlplane/store/database.h"
#include "tests/support/test_postgres.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using control::store::Database;
using control::store::MakeCall;
using control::store::PipelineRunner;

class HungDatabaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_ = TestPostgres::StartPrivate();
    database_ = cluster_->CreateDatabase(/*migrated=*/false);
    db_ = std::make_unique<Database>(
        control::store::DatabaseOptions{.url = database_->url(),
                                        .pool_size = 2,
                                        .acquire_timeout = absl::Seconds(2),
                                        .connect_timeout = absl::Seconds(1),
                                        .statement_timeout = absl::Milliseconds(500),
                                        .application_name = "hung-database-test",
                                        .acquire_wait = nullptr},
        std::vector<control::store::Statement>{{"t.one", "SELECT 1"}});
  }

  void TearDown() override {
    if (frozen_) cluster_->Thaw();
  }

  absl::Status SelectOne() {
    return db_->Autocommit({.operation = "select one"}, [](pqxx::nontransaction& tx) {
      tx.exec("SELECT 1");
      return absl::OkStatus();
    });
  }

  absl::Status PipelinedSelectOne() {
    return db_->Pipelined({.operation = "select one"}, std::nullopt,
                          [](PipelineRunner& runner) -> absl::Status {
                            runner.Queue(MakeCall("t.one"));
                            return runner.Flush(/*last=*/true);
                          });
  }

  // Runs `call` while the server is frozen; expects the watchdog to end it
  // well before the thaw, with UNAVAILABLE.
  void ExpectAbandonedWhileFrozen(const std::function<absl::Status()>& call) {
    ASSERT_TRUE(call().ok());  // a pooled connection to hang on
    cluster_->Freeze();
    frozen_ = true;
    std::atomic<bool> done{false};
    absl::Status status;
    absl::Duration took;
    std::thread caller([&] {
      const absl::Time start = absl::Now();
      status = call();
      took = absl::Now() - start;
      done.store(true);
    });
    const bool abandoned = WaitFor(
        [&] { return db_->AbandonHungCalls(absl::Milliseconds(200)) > 0; }, absl::Seconds(5));
    // The retry on a new connection meets the frozen server too and gives up
    // at connect_timeout; no call may wait for the thaw.
    const bool ended_while_frozen = WaitFor([&] { return done.load(); }, absl::Seconds(5));
    cluster_->Thaw();
    frozen_ = false;
    caller.join();
    EXPECT_TRUE(abandoned) << "no call was found hung";
    EXPECT_TRUE(ended_while_frozen) << "the call waited for the thaw";
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_LT(took, absl::Seconds(4));
    // Nothing abandoned is pooled again: the next call works.
    EXPECT_TRUE(WaitFor([&] { return call().ok(); }, absl::Seconds(5)));
    EXPECT_EQ(db_->AbandonHungCalls(absl::ZeroDuration()), 0) << "a finished call is not lent";
  }

  std::unique_ptr<TestPostgres> cluster_;
  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<Database> db_;
  bool frozen_ = false;
};

TEST_F(HungDatabaseTest, EndsATransactionWaitingOnAHungServer) {
  ExpectAbandonedWhileFrozen([this] { return SelectOne(); });
}

TEST_F(HungDatabaseTest, EndsAPipelinedTransactionWaitingOnAHungServer) {
  ExpectAbandonedWhileFrozen([this] { return PipelinedSelectOne(); });
}

TEST_F(HungDatabaseTest, LeavesACallWithinTheStatementTimeoutAlone) {
  ASSERT_TRUE(SelectOne().ok());
  cluster_->Freeze();
  frozen_ = true;
  std::atomic<bool> done{false};
  std::thread caller([&] {
    SelectOne().IgnoreError();
    done.store(true);
  });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(db_->AbandonHungCalls(absl::Seconds(10)), 0);
  cluster_->Thaw();
  frozen_ = false;
  caller.join();
  EXPECT_TRUE(done.load());
}

}  // namespace
}  // namespace warden::testing
