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
#include "controlplane/store/notification_listener.h"
#include "tests/support/test_postgres.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using control::store::Database;
using control::store::MakeCall;
using control::store::NotificationListener;
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

// A LISTEN connection to a frozen server hears nothing, like a quiet one:
// its probe goes unanswered, so it reconnects once the server answers, the
// owner catches up (on_connected) and notifications flow again.
TEST_F(HungDatabaseTest, AListenerToAHungServerNoticesAndComesBack) {
  std::atomic<int> connects{0};
  std::atomic<int> heard{0};
  control::store::DatabaseOptions options;
  options.url = database_->url();
  options.connect_timeout = absl::Seconds(1);
  NotificationListener listener(
      control::store::ConnectionString(options), {"hung_test"},
      [&](const std::string&, const std::string&) { heard.fetch_add(1); },
      [&] { connects.fetch_add(1); },
      {.interval = absl::Milliseconds(300), .timeout = absl::Milliseconds(700)});
  listener.Start();
  ASSERT_TRUE(WaitFor([&] { return listener.connected(); }, absl::Seconds(10)));
  auto notify = [&] {
    return db_->Autocommit({.operation = "notify"}, [](pqxx::nontransaction& tx) {
      tx.exec("NOTIFY hung_test");
      return absl::OkStatus();
    });
  };
  ASSERT_TRUE(notify().ok());
  ASSERT_TRUE(WaitFor([&] { return heard.load() == 1; }));

  cluster_->Freeze();
  frozen_ = true;
  EXPECT_TRUE(WaitFor([&] { return !listener.connected(); }, absl::Seconds(5)))
      << "the listener did not notice the hung server";
  absl::SleepFor(absl::Seconds(1));  // reconnect attempts fail at connect_timeout meanwhile
  cluster_->Thaw();
  frozen_ = false;
  EXPECT_TRUE(
      WaitFor([&] { return listener.connected() && connects.load() == 2; }, absl::Seconds(15)));
  EXPECT_TRUE(WaitFor([&] { return notify().ok(); }, absl::Seconds(10)));
  EXPECT_TRUE(WaitFor([&] { return heard.load() >= 2; }, absl::Seconds(5)));
  listener.Stop();
}

// Stopping (a replica shutting down) never waits for a hung server: the
// UNLISTENs on the way out are watched like every other question.
TEST_F(HungDatabaseTest, AListenerStopsPromptlyWhileItsServerHangs) {
  control::store::DatabaseOptions options;
  options.url = database_->url();
  NotificationListener listener(
      control::store::ConnectionString(options), {"stop_test"},
      [](const std::string&, const std::string&) {}, [] {},
      {.interval = absl::Seconds(30), .timeout = absl::Milliseconds(700)});
  listener.Start();
  ASSERT_TRUE(WaitFor([&] { return listener.connected(); }, absl::Seconds(10)));
  cluster_->Freeze();
  frozen_ = true;
  const absl::Time start = absl::Now();
  listener.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

// A quiet, healthy server is not mistaken for a hung one.
TEST_F(HungDatabaseTest, AListenerToAQuietServerStaysConnected) {
  std::atomic<int> connects{0};
  control::store::DatabaseOptions options;
  options.url = database_->url();
  NotificationListener listener(
      control::store::ConnectionString(options), {"quiet_test"},
      [](const std::string&, const std::string&) {}, [&] { connects.fetch_add(1); },
      {.interval = absl::Milliseconds(100), .timeout = absl::Milliseconds(500)});
  listener.Start();
  ASSERT_TRUE(WaitFor([&] { return listener.connected(); }, absl::Seconds(10)));
  absl::SleepFor(absl::Seconds(2));  // some twenty probes
  EXPECT_TRUE(listener.connected());
  EXPECT_EQ(connects.load(), 1);
  listener.Stop();
}

}  // namespace
}  // namespace warden::testing
