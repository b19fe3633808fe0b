// Closed sessions as time-partitioned history (migration 0017), on a real
// database: the upgrade splits live sessions from closed ones and keeps
// every session and its id; closing moves a session into its month; the
// retention drops whole months of closed sessions and never a live one; a
// transaction that waited on a session while it was closed (and moved) is
// run again and finds it closed; deleting a user deletes their history;
// the statements of a node's reports read sessions by index, whatever the
// statistics of a month not yet analyzed, and are planned once.

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "common/metrics.h"
#include "controlplane/dispatch/history_retention.h"
#include "controlplane/store/database.h"
#include "controlplane/store/history_store.h"
#include "controlplane/store/migrations.h"
#include "controlplane/store/statements.h"
#include "controlplane/store/usage_store.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/statement_plan.h"
#include "tests/support/test_postgres.h"
#include "tests/support/wait.h"

namespace warden::testing {
namespace {

using control::dispatch::HistoryRetention;
using control::dispatch::HistoryRetentionOptions;
using control::store::EmbeddedMigrations;
using control::store::Migrate;

class SessionHistoryTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = TestPostgres::Shared().CreateDatabase(/*migrated=*/false); }

  void MigrateThrough(int version) {
    absl::StatusOr<control::store::MigrationReport> report =
        Migrate(db_->url(), MigrationsThrough(version));
    ASSERT_TRUE(report.ok()) << report.status();
  }
  void Open() {
    database_ = std::make_unique<control::store::Database>(
        control::store::DatabaseOptions{.url = db_->url()}, control::store::AllStatements());
    history_ = std::make_unique<control::store::HistoryStore>(*database_);
  }

  int64_t Query(const std::string& sql) { return db_->QueryInt(sql); }
  void Exec(const std::string& sql) { db_->Exec(sql); }

  // A user and a node, and sessions of that user on it: `state`, closed
  // (when closed) `closed_days_ago` days ago.
  void AddUserAndNode() {
    Exec("INSERT INTO users (username, password_hash, max_connections) VALUES ('ada', 'x', 9)");
    Exec("INSERT INTO nodes (name) VALUES ('ams-1')");
  }
  void AddSession(const std::string& key, const std::string& state, int closed_days_ago = 0,
                  int opened_days_ago = 0) {
    const std::string closed_at =
        state == "closed" ? "now() - interval '" + std::to_string(closed_days_ago) + " days'"
                          : "NULL";
    Exec(
        "INSERT INTO sessions (user_id, node_id, protocol, session_key, state, opened_at, "
        "closed_at) SELECT u.id, n.id, 'openvpn', '" +
        key + "', '" + state + "', now() - interval '" + std::to_string(opened_days_ago) +
        " days', " + closed_at + " FROM users u, nodes n");
  }
  std::string PartitionOf(const std::string& key) {
    pqxx::connection connection(db_->url());
    return pqxx::nontransaction(connection)
        .exec1("SELECT tableoid::regclass::text FROM sessions WHERE session_key = '" + key + "'")[0]
        .as<std::string>();
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<control::store::Database> database_;
  std::unique_ptr<control::store::HistoryStore> history_;
};

TEST_F(SessionHistoryTest, TheUpgradeSplitsLiveFromClosedAndKeepsEverySession) {
  MigrateThrough(16);
  AddUserAndNode();
  AddSession("live-1", "active");
  AddSession("live-2", "closing");
  AddSession("old", "closed", 100, 101);
  AddSession("recent", "closed", 0, 1);
  // A closed row without a closing time (none is written so; an old one may be).
  Exec("UPDATE sessions SET closed_at = NULL WHERE session_key = 'old'");
  const int64_t ids_before = Query("SELECT count(DISTINCT id) FROM sessions");
  Exec("CREATE TABLE ids_before AS SELECT id, state FROM sessions");

  MigrateThrough(17);
  EXPECT_EQ(Query("SELECT count(*) FROM sessions"), ids_before);
  EXPECT_EQ(Query("SELECT count(*) FROM ids_before b JOIN sessions s USING (id, state)"),
            ids_before)
      << "every session kept, with its id and state";
  EXPECT_EQ(PartitionOf("live-1"), "sessions_live");
  EXPECT_EQ(PartitionOf("live-2"), "sessions_live");
  EXPECT_EQ(PartitionOf("old"), "sessions_closed_before") << "the old table became history";
  EXPECT_EQ(PartitionOf("recent"), "sessions_closed_before");
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE state = 'closed' AND closed_at IS NULL"), 0);

  // One live session per key on a node, as before.
  EXPECT_THROW(AddSession("live-1", "active"), std::exception);
  // A closed key may be used again.
  AddSession("old", "active");
  // The months ahead were made: closing now, or next month, has a place.
  Exec(
      "UPDATE sessions SET state = 'closed', closed_at = now() + interval '1 month' "
      "WHERE session_key = 'live-2'");
  EXPECT_NE(PartitionOf("live-2"), "sessions_closed_before");
  EXPECT_EQ(PartitionOf("live-2").rfind("sessions_closed_p", 0), 0u) << PartitionOf("live-2");
}

TEST_F(SessionHistoryTest, ClosedSessionsExpireAMonthAtATimeAndLiveOnesNever) {
  MigrateThrough(EmbeddedMigrations().back().version);
  Open();
  AddUserAndNode();
  AddSession("old", "closed", 100, 100);
  AddSession("now", "closed", 0, 0);
  AddSession("long-lived", "active", 0, 500);
  metrics::Registry metrics;
  HistoryRetention retention(
      *history_, HistoryRetentionOptions{.retention = {{"sessions_closed", absl::Hours(24)}}},
      metrics);
  // A year on, every month before this one has expired; this one never does.
  EXPECT_EQ(retention.RunOnce(absl::Now() + absl::Hours(24 * 365)), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE session_key = 'old'"), 0);
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE session_key = 'now'"), 1);
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE session_key = 'long-lived'"), 1)
      << "a live session is never history, however old";
  absl::StatusOr<PrometheusText> exposed = PrometheusText::Parse(metrics.Expose());
  ASSERT_TRUE(exposed.ok()) << exposed.status();
  EXPECT_EQ(
      exposed->Value("warden_history_partitions_dropped_total", {{"table", "sessions_closed"}}), 1);
  // Closing the live session moves it into this month's partition.
  Exec("UPDATE sessions SET state = 'closed', closed_at = now() WHERE session_key = 'long-lived'");
  EXPECT_EQ(PartitionOf("long-lived"), PartitionOf("now"));
}

// Closing moves a session's row to another partition. A transaction that
// was waiting to lock the row meanwhile gets a serialization failure where
// an unpartitioned table would have let it re-read the row; the store runs
// it again, and then it sees the session closed.
TEST_F(SessionHistoryTest, AWriterThatWaitedOnASessionBeingClosedRunsAgainAndFindsItClosed) {
  MigrateThrough(EmbeddedMigrations().back().version);
  Open();
  AddUserAndNode();
  AddSession("k", "active");
  pqxx::connection closer_connection(db_->url());
  pqxx::work closer(closer_connection);
  closer.exec0("UPDATE sessions SET state = 'closed', closed_at = now() WHERE session_key = 'k'");

  int attempts = 0;
  absl::StatusOr<int> killed;
  std::thread killer([&] {
    killed = database_->Transact({.operation = "kill"}, [&](pqxx::work& tx) -> absl::StatusOr<int> {
      ++attempts;
      return static_cast<int>(
          tx.exec("UPDATE sessions SET state = 'closing' WHERE session_key = 'k' "
                  "AND state <> 'closed' RETURNING id")
              .size());
    });
  });
  EXPECT_TRUE(WaitFor([&] {
    return Query(
               "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
               "AND wait_event_type = 'Lock'") == 1;
  })) << "the kill never waited on the row";
  closer.commit();
  killer.join();
  ASSERT_TRUE(killed.ok()) << killed.status();
  EXPECT_EQ(*killed, 0) << "it found the session closed";
  EXPECT_EQ(attempts, 2);
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE session_key = 'k' AND state = 'closed'"), 1);
}

TEST_F(SessionHistoryTest, DeletingAUserDeletesTheirClosedSessionsToo) {
  MigrateThrough(EmbeddedMigrations().back().version);
  Open();
  AddUserAndNode();
  AddSession("closed", "closed", 0, 0);
  Exec("INSERT INTO users (username, password_hash, max_connections) VALUES ('bob', 'x', 1)");
  Exec(
      "INSERT INTO sessions (user_id, node_id, protocol, session_key, state, closed_at) "
      "SELECT u.id, n.id, 'openvpn', 'bobs', 'closed', now() FROM users u, nodes n "
      "WHERE u.username = 'bob'");
  absl::Status deleted =
      database_->Transact({.operation = "delete user"}, [&](pqxx::work& tx) -> absl::Status {
        tx.exec_prepared(
            "users.delete",
            tx.exec1("SELECT id::text FROM users WHERE username = 'ada'")[0].as<std::string>());
        return absl::OkStatus();
      });
  ASSERT_TRUE(deleted.ok()) << deleted;
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE session_key = 'closed'"), 0);
  EXPECT_EQ(Query("SELECT count(*) FROM sessions WHERE session_key = 'bobs'"), 1);
}

// Fresh months have no statistics until autovacuum gets to them: the
// statements a node's reports run must not read a whole partition then.
TEST_F(SessionHistoryTest, ReportsOfANodeReadSessionsByIndexBeforeAnyStatistics) {
  MigrateThrough(EmbeddedMigrations().back().version);
  AddUserAndNode();
  Exec(
      "INSERT INTO sessions (user_id, node_id, protocol, session_key, state, closed_at) "
      "SELECT u.id, n.id, 'openvpn', 'bulk:' || g, CASE WHEN g % 2 = 0 THEN 'closed' "
      "ELSE 'active' END, CASE WHEN g % 2 = 0 THEN now() END "
      "FROM users u, nodes n, generate_series(1, 12000) g");
  const std::string closed_month = PartitionOf("bulk:2");
  pqxx::connection connection(db_->url());
  pqxx::nontransaction tx(connection);
  const std::string node = tx.exec1("SELECT id::text FROM nodes")[0].as<std::string>();
  const std::string usage_args = "ARRAY['" + node +
                                 "']::uuid[], ARRAY['']::text[], ARRAY['bulk:7']::text[], "
                                 "ARRAY[0]::bigint[], ARRAY[7]::bigint[], ARRAY[0]::bigint[]";
  const std::string close_args = "'" + node + "', '', 'bulk:9', 'client', 'ams-1', ''";
  for (const std::string mode : {"force_custom_plan", "force_generic_plan"}) {
    const std::string usage =
        PlanOf(tx, mode, control::store::UsageStatements(), "usage.apply", usage_args);
    for (const std::string& full : {std::string("sessions_live"), closed_month}) {
      EXPECT_EQ(usage.find("Seq Scan on " + full + " "), std::string::npos) << mode << ":\n"
                                                                            << usage;
    }
    // Closing reads and updates the live partition alone, even in a plan
    // made before the arguments are known.
    const std::string close =
        PlanOf(tx, mode, control::store::SessionStatements(), "close.session", close_args);
    EXPECT_NE(close.find("Update on sessions_live"), std::string::npos) << mode << ":\n" << close;
    EXPECT_EQ(close.find("Update on sessions_closed"), std::string::npos) << mode << ":\n" << close;
  }
}

// Planned anew for each batch, the usage ledger's statement costs several
// times its execution: a plan opens every partition of the history. The
// ledger runs it where its plan is made once, as for a node's close report.
TEST_F(SessionHistoryTest, TheUsageLedgerPlansItsStatementOnce) {
  MigrateThrough(EmbeddedMigrations().back().version);
  AddUserAndNode();
  AddSession("counted", "active");
  std::vector<control::store::Statement> statements = control::store::AllStatements();
  statements.push_back({.name = "test.plans",
                        .sql = "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                               "WHERE name = $1"});
  // One connection of each kind: the plans read below are the ledger's own.
  control::store::Database database(
      control::store::DatabaseOptions{.url = db_->url(), .pool_size = 1}, std::move(statements));
  control::store::UsageStore usage(database);
  pqxx::connection connection(db_->url());
  const std::string node =
      pqxx::nontransaction(connection).exec1("SELECT id::text FROM nodes")[0].as<std::string>();
  constexpr int kBatches = 8;
  for (int batch = 1; batch <= kBatches; ++batch) {
    const control::model::UsageReport report{
        .node_id = node,
        .session_id = "",
        .session_key = "counted",
        .sample = {.rx_bytes = 100 * batch, .sequence = batch}};
    absl::StatusOr<control::store::LedgerUpdate> applied = usage.Apply({&report, 1});
    ASSERT_TRUE(applied.ok()) << applied.status();
  }
  EXPECT_EQ(Query("SELECT rx_bytes FROM sessions WHERE session_key = 'counted'"), 100 * kBatches);

  absl::StatusOr<std::pair<int64_t, int64_t>> plans = database.Pipelined(
      {.operation = "read plans"}, std::nullopt,
      [](control::store::PipelineRunner& db) -> absl::StatusOr<std::pair<int64_t, int64_t>> {
        const size_t read = db.Queue(control::store::MakeCall("test.plans", "usage.apply"));
        if (absl::Status flushed = db.Flush(/*last=*/true); !flushed.ok()) return flushed;
        const control::store::TextResult& rows = db.Result(read);
        if (rows.size() != 1) return absl::NotFoundError("usage.apply is not prepared here");
        return std::make_pair(rows[0][0].as<int64_t>(), rows[0][1].as<int64_t>());
      });
  ASSERT_TRUE(plans.ok()) << plans.status();
  EXPECT_EQ(plans->first, kBatches) << "generic plans";
  EXPECT_EQ(plans->second, 0) << "custom plans";
}

}  // namespace
}  // namespace warden::testing
