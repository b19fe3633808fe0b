// Schema migrations: idempotent, safe when replicas start together, and
// refusing databases this binary does not understand.

#include "controlplane/store/migrations.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

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

}  // namespace
}  // namespace warden::testing
