// Calls riding out a failover, against a real PostgreSQL: a connection lost
// before COMMIT, a primary turned standby (25006) or a database that cannot
// be reached for a while are tried again within the caller's deadline; a
// statement that may already have been applied runs again only when its
// operation is idempotent; work no caller waits for, and a pool that is
// merely busy, are never retried.

#include "controlplane/store/failover_retry.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controlplane/store/database.h"
#include "tests/support/tcp_proxy.h"
#include "tests/support/test_postgres.h"

namespace warden::testing {
namespace {

using control::store::CallDeadlineScope;
using control::store::Database;
using control::store::DatabaseOptions;
using control::store::PipelineRunner;

// The server ends this statement's own session: the connection is lost
// mid-call, as when a primary goes away.
constexpr char kLoseConnection[] = "SELECT pg_terminate_backend(pg_backend_pid())";
constexpr char kRefuseAsStandby[] =
    "DO $$ BEGIN RAISE EXCEPTION 'cannot execute INSERT in a read-only transaction' "
    "USING ERRCODE = '25006'; END $$";

class FailoverRetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = TestPostgres::Shared().CreateDatabase();
    pqxx::connection connection(db_->url());
    pqxx::nontransaction(connection).exec0("CREATE TABLE t (id integer PRIMARY KEY)");
  }

  std::unique_ptr<Database> Open(DatabaseOptions options = {}) {
    if (options.url.empty()) options.url = db_->url();
    options.failover_retries = &retries_;
    return std::make_unique<Database>(
        options, std::vector<control::store::Statement>{
                     {.name = "lose", .sql = kLoseConnection},
                     {.name = "insert", .sql = "INSERT INTO t VALUES ($1::integer)"}});
  }

  int Rows() {
    pqxx::connection connection(db_->url());
    return pqxx::nontransaction(connection).exec1("SELECT count(*) FROM t")[0].as<int>();
  }

  std::unique_ptr<TestDatabase> db_;
  metrics::Counter retries_;
};

TEST_F(FailoverRetryTest, ATransactionCutOffBeforeCommitRunsAgainWithinTheCallsDeadline) {
  std::unique_ptr<Database> database = Open();
  const CallDeadlineScope deadline(absl::Now() + absl::Seconds(10));
  int attempts = 0;
  absl::Status status =
      database->Transact({.operation = "insert"}, [&](pqxx::work& tx) -> absl::Status {
        tx.exec0("INSERT INTO t VALUES (1)");
        if (++attempts == 1) tx.exec(kLoseConnection);
        return absl::OkStatus();
      });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(Rows(), 1);  // the first attempt was rolled back with its connection
  EXPECT_EQ(retries_.value(), 1);
}

TEST_F(FailoverRetryTest, WorkNoCallerWaitsForIsNotRetried) {
  std::unique_ptr<Database> database = Open();
  int attempts = 0;
  absl::Status status =
      database->Transact({.operation = "insert"}, [&](pqxx::work& tx) -> absl::Status {
        ++attempts;
        tx.exec(kLoseConnection);
        return absl::OkStatus();
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(retries_.value(), 0);
}

TEST_F(FailoverRetryTest, AStatementThatMayHaveBeenAppliedRunsAgainOnlyWhenIdempotent) {
  std::unique_ptr<Database> database = Open();
  const CallDeadlineScope deadline(absl::Now() + absl::Seconds(10));
  // In autocommit mode the INSERT is applied before the connection is lost:
  // running it again would insert twice.
  int attempts = 0;
  absl::Status status = database->Autocommit(
      {.operation = "insert once"}, [&](pqxx::nontransaction& tx) -> absl::Status {
        ++attempts;
        tx.exec0("INSERT INTO t VALUES (" + std::to_string(attempts) + ")");
        tx.exec(kLoseConnection);
        return absl::OkStatus();
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(attempts, 1);
  EXPECT_EQ(Rows(), 1);

  attempts = 0;
  status = database->Autocommit({.operation = "insert if missing", .idempotent = true},
                                [&](pqxx::nontransaction& tx) -> absl::Status {
                                  tx.exec0("INSERT INTO t VALUES (2) ON CONFLICT DO NOTHING");
                                  if (++attempts == 1) tx.exec(kLoseConnection);
                                  return absl::OkStatus();
                                });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(Rows(), 2);
}

TEST_F(FailoverRetryTest, AStandbysRefusalRunsAgainEvenWhenNotIdempotent) {
  std::unique_ptr<Database> database = Open();
  const CallDeadlineScope deadline(absl::Now() + absl::Seconds(10));
  int attempts = 0;
  absl::Status status = database->Autocommit({.operation = "insert once"},
                                             [&](pqxx::nontransaction& tx) -> absl::Status {
                                               if (++attempts < 3) tx.exec(kRefuseAsStandby);
                                               tx.exec0("INSERT INTO t VALUES (1)");
                                               return absl::OkStatus();
                                             });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(attempts, 3);
  EXPECT_EQ(Rows(), 1);
}

TEST_F(FailoverRetryTest, GivesUpUnavailableBeforeTheCallsDeadline) {
  std::unique_ptr<Database> database = Open();
  const absl::Time start = absl::Now();
  const CallDeadlineScope deadline(start + absl::Milliseconds(1500));
  int attempts = 0;
  absl::Status status =
      database->Transact({.operation = "insert"}, [&](pqxx::work& tx) -> absl::Status {
        ++attempts;
        tx.exec(kLoseConnection);
        return absl::OkStatus();
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500));
  EXPECT_GE(attempts, 3);  // pauses of 25-50, 50-100, 100-200 ms... fit in 1.25 s
  EXPECT_EQ(retries_.value(), attempts - 1);
}

TEST_F(FailoverRetryTest, ACallWaitsForADatabaseThatComesBack) {
  TcpProxy proxy(TestPostgres::Shared().port());
  std::unique_ptr<Database> database =
      Open({.url = absl::StrCat("postgresql://postgres@127.0.0.1:", proxy.port(), "/", db_->name()),
            .connect_timeout = absl::Seconds(1)});
  const auto read = [&] {
    return database->Autocommit({.operation = "count", .idempotent = true},
                                [](pqxx::nontransaction& tx) -> absl::StatusOr<int> {
                                  return tx.exec1("SELECT count(*) FROM t")[0].as<int>();
                                });
  };
  ASSERT_TRUE(read().ok());
  // Down: the open connection is cut and new ones are turned away for 1.5 s.
  proxy.Refuse(true);
  proxy.CutAll();
  const absl::Time start = absl::Now();
  std::thread back([&] {
    absl::SleepFor(absl::Milliseconds(1500));
    proxy.Refuse(false);
  });
  absl::StatusOr<int> count;
  {
    const CallDeadlineScope deadline(start + absl::Seconds(10));
    count = read();
  }
  back.join();
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1500));
  EXPECT_GE(retries_.value(), 2);
}

TEST_F(FailoverRetryTest, APipelinedTransactionCutOffBeforeCommitRunsAgain) {
  std::unique_ptr<Database> database = Open();
  const CallDeadlineScope deadline(absl::Now() + absl::Seconds(10));
  int attempts = 0;
  absl::Status status = database->Pipelined({.operation = "insert"}, std::nullopt,
                                            [&](PipelineRunner& runner) -> absl::Status {
                                              runner.Queue(control::store::MakeCall("insert", 1));
                                              if (++attempts == 1)
                                                runner.Queue(control::store::MakeCall("lose"));
                                              return runner.Flush(/*last=*/false);
                                            });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(Rows(), 1);
}

TEST_F(FailoverRetryTest, ABusyPoolIsNotWaitedOutAgain) {
  std::unique_ptr<Database> database =
      Open({.url = db_->url(), .pool_size = 1, .acquire_timeout = absl::Milliseconds(200)});
  absl::StatusOr<Database::Lease> held = database->Acquire();
  ASSERT_TRUE(held.ok());
  const absl::Time start = absl::Now();
  const CallDeadlineScope deadline(start + absl::Seconds(10));
  absl::Status status = database->Autocommit(
      {.operation = "read", .idempotent = true},
      [](pqxx::nontransaction&) -> absl::Status { return absl::OkStatus(); });
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "waited on a busy pool past its timeout";
  EXPECT_EQ(retries_.value(), 0);
}

}  // namespace
}  // namespace warden::testing
