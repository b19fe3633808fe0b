// Schema migrations: idempotent, safe when replicas start together, and
// refusing databases this binary does not understand.

#include "controlplane/store/migrations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "absl/time/clock.h"
#include "tests/support/control_plane_fixture.h"

namespace warden::testing {
namespace {

using control::store::EmbeddedMigrations;
using control::store::Migrate;
using control::store::Migration;

class MigrationsTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = TestPostgres::Shared().CreateDatabase(/*migrated=*/false); }

  int64_t Query(const std::string& sql) { return db_->QueryInt(sql); }
  void Exec(const std::string& sql) { db_->Exec(sql); }

  std::unique_ptr<TestDatabase> db_;
};

TEST_F(MigrationsTest, AppliesEachMigrationOnce) {
  const int known = static_cast<int>(EmbeddedMigrations().size());
  ASSERT_GT(known, 0);
  auto first = Migrate(db_->url(), EmbeddedMigrations());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->applied_now, known);
  EXPECT_EQ(first->schema_version, EmbeddedMigrations().back().version);
  auto second = Migrate(db_->url(), EmbeddedMigrations());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->applied_now, 0);
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations"), known);
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations WHERE length(checksum) = 64"), known);
}

TEST_F(MigrationsTest, TheTimeConversionsAreInlinedIntoTheStatementsThatCallThem) {
  ASSERT_TRUE(Migrate(db_->url(), EmbeddedMigrations()).ok());
  pqxx::connection connection(db_->url());
  pqxx::nontransaction tx(connection);
  for (const std::string call : {"from_epoch_us(g::bigint)", "epoch_us(now())"}) {
    std::string plan;
    for (const auto& row :
         tx.exec("EXPLAIN (VERBOSE) SELECT " + call + " FROM generate_series(1, 2) g")) {
      plan += row[0].as<std::string>() + "\n";
    }
    // A function PostgreSQL could not inline shows by its name, and runs
    // through the SQL-function executor on every call.
    EXPECT_THAT(plan, ::testing::Not(::testing::HasSubstr("epoch_us("))) << plan;
  }
}

TEST_F(MigrationsTest, TwoControlPlanesStartingTogetherMigrateOnce) {
  std::vector<absl::StatusOr<std::unique_ptr<control::ControlPlane>>> planes(2);
  std::vector<std::thread> threads;
  for (auto& plane : planes) {
    threads.emplace_back(
        [&] { plane = control::ControlPlane::Start(TestControlPlaneConfig(db_->url())); });
  }
  for (auto& thread : threads) thread.join();
  for (auto& plane : planes) ASSERT_TRUE(plane.ok()) << plane.status();
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(EmbeddedMigrations().size()));
  EXPECT_EQ(Query("SELECT count(*) FROM api_keys"), 1);
}

TEST_F(MigrationsTest, MigrateOnlyNeedsNothingButTheDatabase) {
  // What a migration Job runs: no TLS files, no --insecure, no admin key.
  control::ControlPlaneConfig config;
  config.database_url = db_->url();
  config.migrate_only = true;
  auto plane = control::ControlPlane::Start(config);
  ASSERT_TRUE(plane.ok()) << plane.status();
  EXPECT_EQ((*plane)->schema_version(), EmbeddedMigrations().back().version);
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations"),
            static_cast<int64_t>(EmbeddedMigrations().size()));
  EXPECT_EQ(Query("SELECT count(*) FROM api_keys"), 0) << "it migrates, nothing more";
}

TEST_F(MigrationsTest, RefusesDatabaseNewerThanThisBinary) {
  ASSERT_TRUE(Migrate(db_->url(), EmbeddedMigrations()).ok());
  Exec("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')");
  auto refused = Migrate(db_->url(), EmbeddedMigrations());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("9999"));
  auto plane = control::ControlPlane::Start(TestControlPlaneConfig(db_->url()));
  EXPECT_EQ(plane.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(MigrationsTest, RefusesAMigrationChangedAfterItWasApplied) {
  ASSERT_TRUE(Migrate(db_->url(), EmbeddedMigrations()).ok());
  Exec("UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 1");
  auto refused = Migrate(db_->url(), EmbeddedMigrations());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("differs"));
}

TEST_F(MigrationsTest, AFailingMigrationLeavesNoTrace) {
  const Migration migrations[] = {
      {1, "first", "CREATE TABLE first_table (id int)"},
      {2, "broken", "CREATE TABLE half_done (id int); SELECT no_such_function()"},
  };
  auto failed = Migrate(db_->url(), migrations);
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations"), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_tables WHERE tablename = 'first_table'"), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'"), 0);
}

// A schema change behind a long transaction: it waits at most lock_timeout
// at a time (so other queries on the table are not queued behind it for
// long), pauses, and succeeds once the transaction ends.
TEST_F(MigrationsTest, AMigrationBlockedByALongTransactionRetriesUntilItGetsTheLock) {
  const Migration first[] = {{1, "table", "CREATE TABLE busy (id int)"}};
  ASSERT_TRUE(Migrate(db_->url(), first).ok());
  pqxx::connection holder(db_->url());
  pqxx::work long_transaction(holder);
  long_transaction.exec("SELECT count(*) FROM busy");  // ACCESS SHARE until it ends

  const Migration both[] = {first[0], {2, "column", "ALTER TABLE busy ADD COLUMN note text"}};
  const control::store::MigrateOptions options{.lock_timeout = absl::Milliseconds(200),
                                               .lock_attempts = 50,
                                               .first_pause = absl::Milliseconds(100),
                                               .max_pause = absl::Milliseconds(200)};
  absl::StatusOr<control::store::MigrationReport> report;
  std::thread migrator([&] { report = Migrate(db_->url(), both, options); });
  absl::SleepFor(absl::Seconds(1));  // several attempts time out meanwhile
  // Between attempts the lock queue is clear: another reader is not held up.
  pqxx::connection reader(db_->url());
  pqxx::nontransaction read(reader);
  read.exec("SET statement_timeout = 2000");
  EXPECT_NO_THROW(read.exec("SELECT count(*) FROM busy"));
  long_transaction.commit();
  migrator.join();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->applied_now, 1);
  EXPECT_EQ(Query("SELECT count(*) FROM information_schema.columns "
                  "WHERE table_name = 'busy' AND column_name = 'note'"),
            1);
}

TEST_F(MigrationsTest, AMigrationThatNeverGetsItsLockGivesUpSayingWhy) {
  const Migration first[] = {{1, "table", "CREATE TABLE busy (id int)"}};
  ASSERT_TRUE(Migrate(db_->url(), first).ok());
  pqxx::connection holder(db_->url());
  pqxx::work long_transaction(holder);
  long_transaction.exec("SELECT count(*) FROM busy");

  const Migration both[] = {first[0], {2, "column", "ALTER TABLE busy ADD COLUMN note text"}};
  auto refused = Migrate(db_->url(), both,
                         {.lock_timeout = absl::Milliseconds(100),
                          .lock_attempts = 3,
                          .first_pause = absl::Milliseconds(50),
                          .max_pause = absl::Milliseconds(50)});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kAborted) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("lock"));
  long_transaction.abort();
  EXPECT_EQ(Query("SELECT count(*) FROM schema_migrations"), 1) << "nothing half-applied";
}

}  // namespace
}  // namespace warden::testing
