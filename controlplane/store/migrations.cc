#include "controlplane/store/migrations.h"

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

}  // namespace

absl::StatusOr<MigrationReport> Migrate(const std::string& connection_string,
                                        std::span<const Migration> migrations) {
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
      pqxx::work tx(connection);
      tx.exec(std::string(migration.sql));
      tx.exec_params("INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                     migration.version, std::string(migration.name),
                     secrets::Sha256Hex(migration.sql));
      tx.commit();
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
