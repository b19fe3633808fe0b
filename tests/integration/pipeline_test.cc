// The store's pipelined transactions on a real PostgreSQL: statements queued
// together come back in one round, BEGIN and COMMIT ride along, each
// statement is planned once, failures are
// classified and roll back, and a connection that died while pooled is
// replaced without the caller noticing.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "absl/time/clock.h"
#include "controlplane/store/database.h"
#include "tests/support/test_postgres.h"

namespace warden::testing {
namespace {

using control::store::Call;
using control::store::Database;
using control::store::MakeCall;
using control::store::PipelineRunner;
using control::store::Statement;

const std::vector<Statement> kStatements = {
    {"t.sum", "SELECT $1::int + $2::int"},
    {"t.echo", "SELECT $1::text, $1::text IS NULL"},
    {"t.add", "INSERT INTO items (name) VALUES ($1) RETURNING id"},
    {"t.count", "SELECT count(*) FROM items"},
    {"t.pid", "SELECT pg_backend_pid()::text"},
    {"t.plans",
     "SELECT generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE name = $1"},
};

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = TestPostgres::Shared().CreateDatabase(/*migrated=*/false);
    pqxx::connection setup(database_->url());
    pqxx::nontransaction(setup).exec("CREATE TABLE items (id serial PRIMARY KEY, name text UNIQUE)");
    db_ = std::make_unique<Database>(
        control::store::DatabaseOptions{.url = database_->url(), .pool_size = 2}, kStatements);
  }

  int64_t Items() {
    pqxx::connection connection(database_->url());
    return pqxx::nontransaction(connection).exec1("SELECT count(*) FROM items")[0].as<int64_t>();
  }

  absl::Status AddItem(const std::string& name) {
    return db_->Pipelined({.operation = "add item", .on_conflict = "that item exists"},
                          std::nullopt, [&](PipelineRunner& db) -> absl::Status {
                            db.Queue(MakeCall("t.add", name));
                            return db.Flush(/*last=*/true);
                          });
  }

  std::unique_ptr<TestDatabase> database_;
  std::unique_ptr<Database> db_;
};

TEST_F(PipelineTest, ReadsEveryQueuedResultAfterOneRound) {
  absl::Status status = db_->Pipelined(
      {.operation = "read"}, std::nullopt, [&](PipelineRunner& db) -> absl::Status {
        const size_t sum = db.Queue(MakeCall("t.sum", 2, 40));
        const size_t text = db.Queue(MakeCall("t.echo", std::string("it's \"quoted\"")));
        const size_t null = db.Queue(Call{.statement = "t.echo", .params = {std::nullopt}});
        if (absl::Status flushed = db.Flush(/*last=*/false); !flushed.ok()) return flushed;
        EXPECT_EQ(db.rounds(), 1) << "BEGIN and three statements in one round trip";
        EXPECT_EQ(db.Result(sum)[0][0].as<int>(), 42);
        EXPECT_EQ(db.Result(text)[0][0].as<std::string>(), "it's \"quoted\"");
        EXPECT_FALSE(db.Result(text)[0][1].as<bool>());
        EXPECT_TRUE(db.Result(null)[0][0].is_null());
        EXPECT_TRUE(db.Result(null)[0][1].as<bool>());
        EXPECT_THROW(db.Result(null)[0][0].as<std::string>(), std::domain_error);
        return absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(PipelineTest, CommitsWithTheLastRound) {
  int rounds = 0;
  absl::Status status =
      db_->Pipelined({.operation = "add"}, std::nullopt, [&](PipelineRunner& db) -> absl::Status {
        const size_t added = db.Queue(MakeCall("t.add", "first"));
        absl::Status flushed = db.Flush(/*last=*/true);
        EXPECT_EQ(db.Result(added).size(), 1);
        rounds = db.rounds();
        return flushed;
      });
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(rounds, 1) << "BEGIN, INSERT and COMMIT in one round trip";
  EXPECT_EQ(Items(), 1);
}

TEST_F(PipelineTest, PlansAStatementOnceInsteadOfOnEveryCall) {
  absl::Status status =
      db_->Pipelined({.operation = "read"}, std::nullopt, [&](PipelineRunner& db) -> absl::Status {
        for (int i = 0; i < 3; ++i) db.Queue(MakeCall("t.sum", i, 1));
        if (absl::Status flushed = db.Flush(/*last=*/false); !flushed.ok()) return flushed;
        const size_t plans = db.Queue(MakeCall("t.plans", "t.sum"));
        if (absl::Status flushed = db.Flush(/*last=*/true); !flushed.ok()) return flushed;
        EXPECT_EQ(db.Result(plans)[0][0].as<int>(), 3) << "runs on the generic plan";
        EXPECT_EQ(db.Result(plans)[0][1].as<int>(), 0) << "planned anew for its arguments";
        return absl::OkStatus();
      });
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(PipelineTest, RollsBackWhenTheOperationFails) {
  absl::Status status =
      db_->Pipelined({.operation = "add"}, std::nullopt, [&](PipelineRunner& db) -> absl::Status {
        db.Queue(MakeCall("t.add", "written then undone"));
        if (absl::Status flushed = db.Flush(/*last=*/false); !flushed.ok()) return flushed;
        return absl::FailedPreconditionError("changed my mind");
      });
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Items(), 0);
  // The connection went back to the pool outside any transaction.
  EXPECT_TRUE(AddItem("next").ok());
  EXPECT_EQ(Items(), 1);
  EXPECT_EQ(db_->Stats().open, 1);
}

TEST_F(PipelineTest, ClassifiesAFailedStatementBySqlState) {
  ASSERT_TRUE(AddItem("taken").ok());
  absl::Status status = AddItem("taken");
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(status.message(), "that item exists");
  // The statements after the failed one were skipped and nothing committed;
  // the same connection serves the next call.
  EXPECT_TRUE(AddItem("free").ok());
  EXPECT_EQ(Items(), 2);
  EXPECT_EQ(db_->Stats().open, 1);
}

TEST_F(PipelineTest, CommitsNothingForACallerPastItsDeadline) {
  absl::Status status =
      db_->Pipelined({.operation = "add"}, absl::Now() - absl::Milliseconds(1),
                     [&](PipelineRunner& db) -> absl::Status {
                       db.Queue(MakeCall("t.add", "too late"));
                       return db.Flush(/*last=*/true);
                     });
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(Items(), 0);
  EXPECT_TRUE(AddItem("in time").ok());
}

TEST_F(PipelineTest, ReplacesAConnectionThatDiedWhilePooled) {
  ASSERT_TRUE(AddItem("before").ok());
  {
    pqxx::connection admin(database_->url());
    pqxx::nontransaction(admin).exec(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  }
  EXPECT_TRUE(AddItem("after").ok());
  EXPECT_EQ(Items(), 2);
}

TEST_F(PipelineTest, KeepsItsConnectionWhileLibpqxxWorkAlternates) {
  Database one(control::store::DatabaseOptions{.url = database_->url(), .pool_size = 1},
               kStatements);
  auto backend = [&]() -> absl::StatusOr<std::string> {
    return one.Pipelined({.operation = "backend"}, std::nullopt,
                         [&](PipelineRunner& db) -> absl::StatusOr<std::string> {
                           const size_t pid = db.Queue(MakeCall("t.pid"));
                           if (absl::Status flushed = db.Flush(/*last=*/true); !flushed.ok()) {
                             return flushed;
                           }
                           return db.Result(pid)[0][0].as<std::string>();
                         });
  };
  auto count = [&] {
    return one.Transact({.operation = "count"}, [&](pqxx::work& tx) -> absl::StatusOr<int64_t> {
      return tx.exec_prepared1("t.count")[0].as<int64_t>();
    });
  };
  // A pool of one of each kind: work of one kind never closes the other's
  // connection, so alternating costs no reconnects.
  absl::StatusOr<std::string> first = backend();
  ASSERT_TRUE(first.ok()) << first.status();
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<int64_t> counted = count();
    ASSERT_TRUE(counted.ok()) << counted.status();
    absl::StatusOr<std::string> again = backend();
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(*again, *first);
  }
  EXPECT_EQ(one.Stats().open, 2);
  EXPECT_EQ(one.Stats().size, 2);
}

}  // namespace
}  // namespace warden::testing
