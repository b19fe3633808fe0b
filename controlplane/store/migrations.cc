#include "controlplane/store/migrations.h"

#include <algorithm>
#include <map>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/secrets.h"
#include "controlplane/store/errors.h"

namespace warden::control::store {
namespace {

const logging::Logger Log("control.migrate");

// pg_advisory_lock key: "warden:migrate" folded into 63 bits, fixed forever.
constexpr int64_t kMigrationLockKey = 0x7761726465'6e6d67;

constexpr absl::string_view kCreateLedger = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
))sql";

struct Applied {
  std::string name;
  std::string checksum;
};

absl::Status CheckApplied(const std::map<int, Applied>& applied,
                          std::span<const Migration> migrations) {
  const int newest_known = migrations.empty() ? 0 : migrations.back().version;
  std::map<int, const Migration*> known;
  for (const Migration& migration : migrations) known[migration.version] = &migration;
  for (const auto& [version, row] : applied) {
    auto it = known.find(version);
    if (it == known.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the database has schema version ", version, " (", row.name,
                       ") which this warden-control does not know (newest known: ", newest_known,
                       "); run a newer warden-control"));
    }
    if (row.checksum != secrets::Sha256Hex(it->second->sql)) {
      return absl::FailedPreconditionError(
          absl::StrCat("migration ", version, " (", row.name,
                       ") differs from the one applied to this database; refusing to start"));
    }
  }
  return absl::OkStatus();
}

// Applies one migration and records it, in one transaction; with the
// lock_timeout set, a lock it cannot get in time ends the transaction with
// SQLSTATE 55P03, and the migration is tried again after a pause.
absl::Status ApplyWithLockRetries(pqxx::connection& connection, const Migration& migration,
                                  const MigrateOptions& options) {
  absl::Duration pause = options.first_pause;
  for (int attempt = 1;; ++attempt) {
    try {
      pqxx::work tx(connection);
      tx.exec(absl::StrCat("SET LOCAL lock_timeout = ",
                           absl::ToInt64Milliseconds(options.lock_timeout)));
      tx.exec(std::string(migration.sql));
      tx.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                     migration.version, std::string(migration.name),
                     secrets::Sha256Hex(migration.sql));
      tx.commit();
      return absl::OkStatus();
    } catch (const pqxx::sql_error& error) {
      if (error.sqlstate() != "55P03") throw;
      if (attempt >= options.lock_attempts) {
        // ABORTED, not UNAVAILABLE: the database answers, so waiting for it
        // to become reachable (--db-wait-seconds) would not help.
        return absl::AbortedError(absl::StrCat(
            "migration ", migration.version, " (", migration.name,
            ") did not get its table lock in ", attempt, " tries of ",
            absl::FormatDuration(options.lock_timeout),
            ": a long transaction holds a table it changes (see pg_stat_activity); run it again "
            "once that has ended"));
      }
      Log()->warn(
          "migration version={} name={} waited {} for a lock (a long transaction holds a table "
          "it changes?); queries on that table went on meanwhile; try {} of {} in {}",
          migration.version, migration.name, absl::FormatDuration(options.lock_timeout),
          attempt + 1, options.lock_attempts, absl::FormatDuration(pause));
      absl::SleepFor(pause);
      pause = std::min(pause * 2, options.max_pause);
    }
  }
}

}  // namespace

absl::StatusOr<MigrationReport> Migrate(const std::string& connection_string,
                                        std::span<const Migration> migrations,
                                        const MigrateOptions& options) {
  MigrationReport report;
  try {
    pqxx::connection connection(connection_string);
    {
      pqxx::nontransaction session(connection);
      // Migrations may take longer than ordinary statements.
      session.exec("SET statement_timeout = 0");
      session.exec(absl::StrCat("SELECT pg_advisory_lock(", kMigrationLockKey, ")"));
    }
    // The advisory lock is per session: it is released when the connection
    // closes, also on every error path below.
    {
      pqxx::work tx(connection);
      tx.exec(std::string(kCreateLedger));
      tx.commit();
    }
    std::map<int, Applied> applied;
    {
      pqxx::read_transaction tx(connection);
      for (const auto& row : tx.exec("SELECT version, name, checksum FROM schema_migrations")) {
        applied[row[0].as<int>()] = Applied{row[1].as<std::string>(), row[2].as<std::string>()};
      }
    }
    if (absl::Status status = CheckApplied(applied, migrations); !status.ok()) return status;

    for (const Migration& migration : migrations) {
      if (applied.count(migration.version) != 0) continue;
      if (absl::Status applied_now = ApplyWithLockRetries(connection, migration, options);
          !applied_now.ok()) {
        return applied_now;
      }
      ++report.applied_now;
      Log()->info("applied migration version={} name={}", migration.version, migration.name);
    }
    report.schema_version = migrations.empty() ? 0 : migrations.back().version;
    if (!applied.empty())
      report.schema_version = std::max(report.schema_version, applied.rbegin()->first);
    pqxx::nontransaction session(connection);
    session.exec(absl::StrCat("SELECT pg_advisory_unlock(", kMigrationLockKey, ")"));
  } catch (const std::exception& error) {
    return StatusFromException(error, {.operation = "apply database migrations"});
  }
  return report;
}

}  // namespace warden::control::store
