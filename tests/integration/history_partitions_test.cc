// History partitioned by time on a real database: the upgrade keeps the
// history that was there (and its ids), partitions are made ahead, and the
// retention drops whole expired partitions, finishing a detach that was cut
// short and leaving the work to a replica already doing it.

#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "common/metrics.h"
#include "controlplane/dispatch/history_retention.h"
#include "controlplane/store/database.h"
#include "controlplane/store/history_store.h"
#include "controlplane/store/migrations.h"
#include "controlplane/store/statements.h"
#include "tests/support/control_plane_fixture.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/test_postgres.h"

namespace warden::testing {
namespace {

using control::dispatch::HistoryRetention;
using control::dispatch::HistoryRetentionOptions;
using control::store::EmbeddedMigrations;
using control::store::HistoryPartition;
using control::store::HistoryStore;
using control::store::Migrate;

constexpr char kHistoryLockKey[] = "8603546389452350585";

HistoryPartition Partition(const std::string& table, const std::string& name) {
  return {.table = table, .name = name, .upper_bound = absl::InfinitePast()};
}

class HistoryPartitionsTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = TestPostgres::Shared().CreateDatabase(/*migrated=*/false); }

  void Migrated() {
    absl::StatusOr<control::store::MigrationReport> report = Migrate(db_->url(), EmbeddedMigrations());
    ASSERT_TRUE(report.ok()) << report.status();
    database_ = std::make_unique<control::store::Database>(
        control::store::DatabaseOptions{.url = db_->url()}, control::store::AllStatements());
    history_ = std::make_unique<HistoryStore>(*database_);
  }

  int64_t Query(const std::string& sql) { return db_->QueryInt(sql); }
  void Exec(const std::string& sql) { db_->Exec(sql); }
  bool Exists(const std::string& relation) {
    return Query("SELECT count(*) FROM pg_class WHERE relname = '" + relation + "'") == 1;
  }

  // Old history in every partitioned table and now-history in two of them.
  void WriteOldAndNewHistory() {
    Exec(
        "INSERT INTO users (username, password_hash, max_connections) "
        "VALUES ('ada', 'x', 1)");
    Exec(
        "INSERT INTO audit_events (at, actor, action, subject) SELECT now() - interval "
        "'100 days', 'admin', 'user.update', 'old' FROM generate_series(1, 300)");
    Exec("INSERT INTO audit_events (actor, action, subject) VALUES ('admin', 'user.update', 'new')");
    Exec(
        "INSERT INTO usage_daily (user_id, day, node_id, protocol, rx_bytes, tx_bytes) "
        "SELECT id, current_date - d, gen_random_uuid(), 'openvpn', 1, 1 FROM users, "
        "(VALUES (100), (0)) AS days(d)");
    Exec(
        "INSERT INTO webhooks (url, secret_sealed) VALUES ('https://hooks.example/x', 's')");
    Exec(
        "INSERT INTO webhook_deliveries (webhook_id, message_id, event_type, payload, status, "
        "created_at) SELECT id, 'evt_old', 'user.updated', '{}', 'delivered', now() - "
        "interval '100 days' FROM webhooks");
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<control::store::Database> database_;
  std::unique_ptr<HistoryStore> history_;
};

TEST_F(HistoryPartitionsTest, TheUpgradeKeepsEarlierHistoryAndGoesOnWithItsIds) {
  ASSERT_TRUE(Migrate(db_->url(), MigrationsThrough(15)).ok());
  WriteOldAndNewHistory();
  const int64_t last_event = Query("SELECT max(id) FROM audit_events");
  Exec("DELETE FROM audit_events WHERE id = " + std::to_string(last_event));
  const int64_t last_delivery = Query("SELECT max(id) FROM webhook_deliveries");

  Migrated();
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events"), 300);
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events_before"), 300) << "became a partition";
  EXPECT_EQ(Query("SELECT count(*) FROM usage_daily_before"), 2);
  EXPECT_EQ(Query("SELECT count(*) FROM webhook_deliveries_before"), 1);
  // With sessions (by state) and closed sessions (by time): 0017.
  EXPECT_EQ(Query("SELECT count(*) FROM pg_partitioned_table"), 5);

  // It held rows of this span, so it holds this span to its end, and the
  // partitions made ahead begin there.
  EXPECT_EQ(Query("SELECT count(*) FROM history_partitions WHERE partition_name = "
                  "'audit_events_before' AND upper_bound > now() AND upper_bound <= now() + "
                  "interval '31 days'"),
            1);
  EXPECT_EQ(Query("SELECT count(*) FROM history_partitions a JOIN history_partitions b "
                  "ON b.table_name = a.table_name AND b.lower_bound = a.upper_bound "
                  "WHERE a.partition_name LIKE '%\\_before'"),
            4);
  // New rows have ids after every id ever used (a deleted event's id is not
  // handed out again: it named a webhook message).
  Exec("INSERT INTO audit_events (actor, action, subject) VALUES ('admin', 'user.create', 'u:1')");
  EXPECT_EQ(Query("SELECT id FROM audit_events WHERE subject = 'u:1'"), last_event + 1);
  // The webhook fan-out trigger came along to the new table.
  EXPECT_EQ(Query("SELECT count(*) FROM webhook_deliveries WHERE message_id = 'evt_" +
                  std::to_string(last_event + 1) + "'"),
            1);
  EXPECT_GT(Query("SELECT max(id) FROM webhook_deliveries"), last_delivery);
}

TEST_F(HistoryPartitionsTest, PartitionsAreMadeAheadOnceAndCoverTheComingSpans) {
  Migrated();
  // The migration made this span and two more of each table.
  for (const char* table :
       {"audit_events", "usage_daily", "webhook_deliveries", "sessions_closed"}) {
    EXPECT_EQ(Query(std::string("SELECT count(*) FROM history_partitions WHERE table_name = '") +
                    table + "' AND upper_bound > now()"),
              3)
        << table;
  }
  absl::StatusOr<int> made = history_->EnsurePartitions(2);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(*made, 0);
  made = history_->EnsurePartitions(4);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(*made, 8) << "two more spans of four tables";
  // A row dated in the last span made has a partition to go to.
  Exec(
      "INSERT INTO audit_events (at, actor, action, subject) VALUES (date_trunc('month', now()) + "
      "interval '4 months 1 day', 'admin', 'user.update', 'later')");
  EXPECT_EQ(Query("SELECT count(*) FROM history_partitions p JOIN pg_class c ON c.relname = "
                  "p.partition_name"),
            Query("SELECT count(*) FROM history_partitions"))
      << "the bookkeeping names real tables";
}

TEST_F(HistoryPartitionsTest, RetentionDropsWholeExpiredPartitionsOnly) {
  Migrated();
  WriteOldAndNewHistory();
  {
    // 100-day-old rows within a 400-day retention: kept.
    metrics::Registry metrics;
    HistoryRetention keeping(
        *history_, HistoryRetentionOptions{.retention = {{"audit_events", absl::Hours(24 * 400)}}},
        metrics);
    EXPECT_EQ(keeping.RunOnce(absl::Now()), 0);
    EXPECT_EQ(Query("SELECT count(*) FROM audit_events WHERE subject = 'old'"), 300);
  }
  metrics::Registry metrics;
  HistoryRetention retention(*history_,
                             HistoryRetentionOptions{.retention = {{"audit_events", absl::Hours(24)},
                                                                   {"usage_daily", absl::Hours(24)},
                                                                   {"webhook_deliveries",
                                                                    absl::ZeroDuration()}}},
                             metrics);
  // However far ahead the clock, nothing of this span or later goes.
  EXPECT_EQ(retention.RunOnce(absl::Now() + absl::Hours(24 * 365)), 2);
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events WHERE subject = 'old'"), 0);
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events WHERE subject = 'new'"), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM usage_daily"), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM webhook_deliveries"), 1) << "kept forever";
  EXPECT_FALSE(Exists("audit_events_before"));
  EXPECT_FALSE(Exists("usage_daily_before"));
  EXPECT_EQ(Query("SELECT count(*) FROM history_partitions WHERE partition_name IN "
                  "('audit_events_before', 'usage_daily_before')"),
            0);
  absl::StatusOr<PrometheusText> exposed = PrometheusText::Parse(metrics.Expose());
  ASSERT_TRUE(exposed.ok()) << exposed.status();
  EXPECT_EQ(exposed->Value("warden_history_partitions_dropped_total", {{"table", "audit_events"}}),
            1);
  EXPECT_EQ(exposed->Value("warden_history_partitions_dropped_total", {{"table", "usage_daily"}}),
            1);
  EXPECT_EQ(exposed->Value("warden_history_maintenance_failures_total", {}), 0);
  EXPECT_EQ(retention.RunOnce(absl::Now() + absl::Hours(24 * 365)), 0) << "nothing left to drop";
  Exec("INSERT INTO audit_events (actor, action, subject) VALUES ('admin', 'user.update', 'new')");
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events"), 2);
}

TEST_F(HistoryPartitionsTest, ADetachCutShortIsFinishedAndThenDropped) {
  Migrated();
  WriteOldAndNewHistory();
  // A reader's snapshot makes DETACH ... CONCURRENTLY wait in its second
  // transaction; a timeout there leaves the partition half detached.
  pqxx::connection reader_connection(db_->url());
  pqxx::transaction<pqxx::isolation_level::repeatable_read> reader(reader_connection);
  ASSERT_EQ(reader.exec1("SELECT count(*) FROM audit_events")[0].as<int64_t>(), 301);
  {
    pqxx::connection connection(db_->url());
    pqxx::nontransaction tx(connection);
    tx.exec("SET statement_timeout = '300ms'");
    EXPECT_THROW(
        tx.exec("ALTER TABLE audit_events DETACH PARTITION audit_events_before CONCURRENTLY"),
        pqxx::sql_error);
  }
  reader.commit();
  ASSERT_EQ(Query("SELECT count(*) FROM pg_inherits WHERE inhdetachpending AND inhrelid = "
                  "'audit_events_before'::regclass"),
            1);
  const HistoryPartition partition = Partition("audit_events", "audit_events_before");
  absl::Status dropped = history_->DropPartition(partition);
  ASSERT_TRUE(dropped.ok()) << dropped;
  EXPECT_FALSE(Exists("audit_events_before"));
  EXPECT_EQ(Query("SELECT count(*) FROM audit_events"), 1);
  // A partition that is gone already is only forgotten.
  Exec("ALTER TABLE usage_daily DETACH PARTITION usage_daily_before");
  Exec("DROP TABLE usage_daily_before");
  ASSERT_TRUE(history_->DropPartition(Partition("usage_daily", "usage_daily_before")).ok());
  EXPECT_EQ(Query("SELECT count(*) FROM history_partitions WHERE partition_name = "
                  "'usage_daily_before'"),
            0);
}

TEST_F(HistoryPartitionsTest, AReplicaLeavesTheDropToOneAlreadyDoingIt) {
  Migrated();
  pqxx::connection other_replica(db_->url());
  pqxx::nontransaction other(other_replica);
  other.exec(std::string("SELECT pg_advisory_lock(") + kHistoryLockKey + ")");
  absl::Status dropped =
      history_->DropPartition(Partition("audit_events", "audit_events_before"));
  EXPECT_EQ(dropped.code(), absl::StatusCode::kAborted) << dropped;
  EXPECT_TRUE(Exists("audit_events_before"));
  absl::StatusOr<int> made = history_->EnsurePartitions(4);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(*made, 0) << "the other replica is at it";
  other.exec(std::string("SELECT pg_advisory_unlock(") + kHistoryLockKey + ")");
  EXPECT_TRUE(
      history_->DropPartition(Partition("audit_events", "audit_events_before")).ok());
  EXPECT_FALSE(Exists("audit_events_before"));
  EXPECT_EQ(history_->EnsurePartitions(4).value_or(-1), 8);
}

TEST_F(HistoryPartitionsTest, RefusesAWebhookRetentionTheRetryScheduleOutlasts) {
  control::ControlPlaneConfig config = TestControlPlaneConfig(db_->url());
  config.webhook_delivery_retention = absl::Hours(24);  // the default schedule takes 31 h
  absl::StatusOr<std::unique_ptr<control::ControlPlane>> started =
      control::ControlPlane::Start(config);
  EXPECT_EQ(started.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(started.status().message().find("--webhook-delivery-retention-days"),
            absl::string_view::npos)
      << started.status();
}

}  // namespace
}  // namespace warden::testing
